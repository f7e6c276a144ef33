"""Least privilege, code -> grant: every S3 object and ARN the code builds for an identity
is allowed to that identity by its rendered inline policy, on every shipped stack.

The URIs come from the code's own builders (the launcher's `job_uris` and
`channel_prefix`, the contract's `model_prefix` and `capture_prefix` that `mlops register`
and the endpoint use, the registry's `package_arn`); who uses each is the literal table
`EXPECTED`; the verdict is the reachability evaluator's `decides` over the role's
`RolePolicy` documents as rendered. A prefix renamed in the contract but not in the
grants (or the reverse) fails here before it fails on AWS.
"""

from __future__ import annotations

import pytest

from common.iam_document import parse_document
from infra import contracts
from infra.config import load_stack
from infra.graph import Graph
from ml.registry.packages import package_arn
from ml.training.sagemaker import StackOutputs, channel_prefix, job_uris
from policies.reachability import decides
from tests.conftest import REPO_ROOT

GET, PUT = "s3:GetObject", "s3:PutObject"
ROLE, ROLE_POLICY = "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"
# Who uses what (role name without `mlops-<stack>-`) and how: the code paths of
# docs/identities.md. Rows of roles a stack does not create are checked against its config.
EXPECTED: dict[str, dict[str, tuple[str, ...]]] = {
    # gh-release gets the candidate from the build job (a workflow artifact), not from S3.
    "launcher main output": {"training": (PUT,), "gh-build": (GET,)},
    "launcher main checkpoint": {"training": (PUT, GET)},
    "launcher pull-request output": {"training-pr": (PUT,), "gh-train": (GET,)},
    "launcher pull-request checkpoint": {"training-pr": (PUT, GET)},
    "training channel": {
        "gh-build": (PUT, GET),
        "training": (GET,),
        "gh-train": (GET,),
        "training-pr": (GET,),
    },
    # the validation drift gate (gh-build, gh-train) reads production's; the monitor too
    "drift reference": {"gh-build": (PUT, GET), "gh-train": (GET,), "gh-monitor": (GET,)},
    "registered model": {
        "gh-release": (PUT, GET),
        "inference": (GET,),
        "gh-deploy": (GET,),
        "gh-build": (GET,),
        "gh-train": (GET,),
        "auditor": (GET,),
    },
    "registered signature": {"gh-release": (PUT,), "auditor": (GET,)},
    "validation report": {"gh-release": (PUT,), "auditor": (GET,)},
    "captured requests": {"inference": (PUT,), "gh-monitor": (GET,)},
    "ground truth labels": {"gh-monitor": (GET,)},
    "monitor marker": {"gh-monitor": (PUT, GET)},
    "model package": {
        "gh-approve": ("sagemaker:UpdateModelPackage",),
        "gh-release": ("sagemaker:DescribeModelPackage",),
        "gh-deploy": ("sagemaker:DescribeModelPackage",),
        "auditor": ("sagemaker:DescribeModelPackage",),
        "gh-monitor": ("sagemaker:DescribeModelPackage",),
    },
}
PULL_REQUEST_ROLES = ("training-pr", "gh-train")
RUN, JOB, DATA_HASH, DIGEST = "20260101T000000Z-abc123", "job-1", "sha256:" + "ab" * 32, "cd" * 32


def _bucket(graph: Graph, role: str) -> str:
    return graph.named(f"mlops-{graph.stack}-{role}", "aws:s3/bucket:Bucket").outputs["bucket"]


def code_uses(graph: Graph) -> dict[str, str]:
    """What -> the ARN the code builds for it in this stack."""
    cfg = load_stack(graph.stack, REPO_ROOT)
    model = next(iter(cfg.models))
    group = cfg.model_group(model)
    data, artifacts, capture = (_bucket(graph, r) for r in ("data", "artifacts", "capture"))
    stack = StackOutputs(artifacts, data, "unused-key", "unused-role")
    main_checkpoint, main_output = job_uris(stack, model, RUN)
    pr_checkpoint, pr_output = job_uris(stack, model, RUN, pull_request=7)
    group_arn = graph.named(
        f"mlops-{graph.stack}-{group}", "aws:sagemaker/modelPackageGroup:ModelPackageGroup"
    ).outputs["arn"]
    job_model = f"{JOB}/output/{contracts.MODEL_ARTIFACT_FILE}"
    registered = contracts.model_prefix(group, DIGEST)
    uris = {
        "launcher main output": main_output + job_model,
        "launcher main checkpoint": main_checkpoint + "checkpoint-20.txt",
        "launcher pull-request output": pr_output + job_model,
        "launcher pull-request checkpoint": pr_checkpoint + "checkpoint-20.txt",
        "training channel": contracts.s3_uri(data, channel_prefix(model, DATA_HASH, "train"))
        + "train.csv",
        "drift reference": contracts.s3_uri(data, channel_prefix(model, DATA_HASH, "reference"))
        + "reference.csv",
        "registered model": contracts.s3_uri(artifacts, registered + contracts.MODEL_ARTIFACT_FILE),
        "registered signature": contracts.s3_uri(artifacts, registered + contracts.SIGNATURE_FILE),
        "validation report": contracts.s3_uri(
            artifacts, registered + contracts.VALIDATION_REPORT_FILE
        ),
        "captured requests": contracts.s3_uri(
            capture, contracts.capture_prefix(group) + "2026/01/01/00/capture.jsonl"
        ),
        "ground truth labels": contracts.s3_uri(
            capture, contracts.ground_truth_prefix(group) + "2026-01-06.csv"
        ),
        "monitor marker": contracts.s3_uri(
            capture, contracts.monitor_marker_key(contracts.capture_prefix(group))
        ),
    }
    arns = {what: "arn:aws:s3:::" + uri.removeprefix("s3://") for what, uri in uris.items()}
    arns["model package"] = package_arn(group_arn, 1)
    return arns


def denials(
    graph: Graph, uses: dict[str, str], expected: dict[str, dict[str, tuple[str, ...]]] = EXPECTED
) -> list[str]:
    """One message per (what, role, action) of `expected` the role's policy does not allow."""
    cfg = load_stack(graph.stack, REPO_ROOT)
    problems: list[str] = []
    for what, users in expected.items():
        arn = uses[what]
        for role, actions in users.items():
            name = f"mlops-{graph.stack}-{role}"
            roles = [r for r in graph.of_type(ROLE) if r.name == name]
            if not roles:
                if role in PULL_REQUEST_ROLES and not cfg.github.train_on_pull_requests:
                    continue  # the stack takes no training from pull requests
                problems.append(f"{what}: role {name} is missing")
                continue
            statements = [
                statement
                for policy in graph.attached_to(ROLE_POLICY, "role", roles[0].outputs["name"])
                for statement in parse_document(policy.inputs["policy"])
            ]
            problems += [
                f"{what}: {name} may not {action} on {arn}"
                for action in actions
                if not decides(statements, action, arn)
            ]
    return problems


def test_every_uri_the_code_builds_is_granted_to_its_user(stack_graph: Graph):
    problems = denials(stack_graph, code_uses(stack_graph))
    assert not problems, f"{stack_graph.stack}:\n" + "\n".join(problems)


def test_the_table_covers_every_use_the_code_builds(graph_of):
    uses = code_uses(graph_of("dev"))
    assert set(uses) == set(EXPECTED), "every URI built above needs its users in EXPECTED"


def test_prefix_renamed_in_contract_only_is_denied(graph_of, monkeypatch: pytest.MonkeyPatch):
    # attack: the launcher's output moves to `training/` while the grants (rendered before
    # the change, as a stale permissions module would) still say `training-output/`
    graph = graph_of("staging")
    monkeypatch.setattr(contracts, "TRAINING_OUTPUT_PREFIX", "training/")
    problems = denials(graph, code_uses(graph))
    denied = {p.split(":", 1)[0] for p in problems}
    assert denied == {"launcher main output", "launcher pull-request output"}, problems


def test_grant_to_the_wrong_role_is_denied(graph_of):
    # attack on the table: the PR training role publishing models, the signer approving
    graph = graph_of("staging")
    wrong = {
        "registered model": {"training-pr": (PUT,)},
        "model package": {"gh-release": ("sagemaker:UpdateModelPackage",)},
    }
    problems = denials(graph, code_uses(graph), wrong)
    assert len(problems) == 2, problems
