"""IAM: typed least-privilege documents, OIDC trust pinned to this repo, lint-clean."""

from __future__ import annotations

import json

import pytest

from common.iam_lint import lint_policy
from infra.graph import Graph, Resource
from infra.policy_document import Statement
from tests.infra.helpers import allows, as_list, policy_of, statements

OIDC = "token.actions.githubusercontent.com"
# Statements allowed to use Resource "*": each action has no narrower resource in IAM.
WILDCARD_RESOURCE_SIDS = {
    "EcrLogin",
    "PublishOwnMetrics",
    "PublishMonitoringMetrics",
    "DescribeNetwork",
    "DescribeNetworkAndLogs",
    "DescribeScalingAndZones",
    "DescribeLogGroups",
    "DrawAlarmCharts",
}


def _role(graph: Graph, suffix: str) -> Resource:
    return graph.named(f"mlops-{graph.stack}-{suffix}", "aws:iam/role:Role")


def _inline_policy(graph: Graph, purpose: str) -> dict:
    return policy_of(graph.named(f"mlops-{graph.stack}-{purpose}", "aws:iam/rolePolicy:RolePolicy"))


def _allowed(document: dict, action: str) -> list[str]:
    """Resources on which `action` is allowed by an identity policy."""
    return [
        resource
        for statement in document["Statement"]
        if statement["Effect"] == "Allow" and action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]


def test_no_document_allows_a_wildcard_action(stack_graph: Graph) -> None:
    for resource, key, document in stack_graph.policy_documents():
        for statement in document["Statement"]:
            if statement["Effect"] == "Allow":
                wild = [a for a in as_list(statement["Action"]) if "*" in a]
                assert not wild, f"{resource.name}.{key} {statement.get('Sid')}: {wild}"


def test_identity_policies_use_star_resource_only_where_iam_has_nothing_narrower(
    stack_graph: Graph,
) -> None:
    # A Deny on "*" only takes rights away (the release role's NeverApprove).
    for policy in stack_graph.of_type("aws:iam/rolePolicy:RolePolicy"):
        for statement in policy_of(policy)["Statement"]:
            if statement["Effect"] == "Allow" and "*" in as_list(statement.get("Resource", [])):
                assert statement["Sid"] in WILDCARD_RESOURCE_SIDS, f"{policy.name}: {statement}"


def test_every_policy_document_is_clean_under_parliament(stack_graph: Graph) -> None:
    findings = {
        f"{resource.name}.{key}": [str(f) for f in lint_policy(document)]
        for resource, key, document in stack_graph.policy_documents()
    }
    dirty = {where: found for where, found in findings.items() if found}
    assert len(findings) >= 20, f"expected every role, key and bucket policy, got {len(findings)}"
    assert not dirty, f"parliament findings: {dirty}"


def test_iam_linter_reports_a_misspelled_action() -> None:
    # The lint used above is real: a typo in an action is a finding.
    document = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Typo", "Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "arn:aws:s3:::b/*"}
    ]}  # fmt: skip
    issues = [f.issue for f in lint_policy(document)]
    assert issues == ["UNKNOWN_ACTION"], issues


def _subjects(graph: Graph, role: str) -> list[str]:
    trust = statements(policy_of(_role(graph, role), "assumeRolePolicy"))["GitHubActionsAssume"]
    return sorted(as_list(trust["Condition"]["StringEquals"][f"{OIDC}:sub"]))


@pytest.mark.parametrize(
    ("role", "subjects"),
    [
        ("gh-plan", ["pull_request", "ref:refs/heads/main"]),
        ("gh-build", ["ref:refs/heads/main"]),
        ("gh-release", ["environment:model-signing-{env}"]),
        ("gh-approve", ["environment:model-approval-{env}"]),
        ("gh-deploy", ["environment:{env}"]),
        ("gh-monitor", ["ref:refs/heads/main"]),
    ],
)
def test_github_role_trusts_exactly_its_duty_subjects(
    stack_graph: Graph, role: str, subjects: list[str]
) -> None:
    trust = statements(policy_of(_role(stack_graph, role), "assumeRolePolicy"))[
        "GitHubActionsAssume"
    ]
    equals = trust["Condition"]["StringEquals"]
    assert equals[f"{OIDC}:aud"] == "sts.amazonaws.com", equals
    env = stack_graph.stack
    expected = sorted(f"repo:acme/mlops-gitops:{s.format(env=env)}" for s in subjects)
    assert _subjects(stack_graph, role) == expected, f"{role} trusts {_subjects(stack_graph, role)}"
    assert "StringLike" not in trust["Condition"], "subjects must match exactly"


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_train_role_trusts_only_pull_requests(graph_of, stack: str) -> None:
    subjects = _subjects(graph_of(stack), "gh-train")
    assert subjects == ["repo:acme/mlops-gitops:pull_request"], subjects


def test_prod_has_no_pull_request_training_roles(graph_of) -> None:
    # prod sets trainOnPullRequests: false, so neither role exists to be assumed.
    names = {r.name for r in graph_of("prod").of_type("aws:iam/role:Role")}
    assert not {"mlops-prod-gh-train", "mlops-prod-training-pr"} & names, sorted(names)


def test_no_role_that_accepts_a_pull_request_holds_a_sensitive_action(stack_graph: Graph) -> None:
    # The attack: a pull request's job assumes whatever role trusts `pull_request` and signs,
    # approves, registers, deploys or writes models with it.
    sensitive = {
        "kms:Sign",
        "sagemaker:UpdateModelPackage",
        "sagemaker:CreateModelPackage",
        "sagemaker:CreateEndpoint",
        "sagemaker:UpdateEndpoint",
        "sagemaker:CreateModel",
    }
    env = stack_graph.stack
    for role in stack_graph.of_type("aws:iam/role:Role"):
        trust = policy_of(role, "assumeRolePolicy")
        if "repo:acme/mlops-gitops:pull_request" not in json.dumps(trust):
            continue
        purpose = role.name.removeprefix(f"mlops-{env}-gh-")
        document = _inline_policy(stack_graph, purpose)
        granted = {
            a for s in document["Statement"] if s["Effect"] == "Allow" for a in as_list(s["Action"])
        }
        assert not granted & sensitive, f"{role.name}: {sorted(granted & sensitive)}"
        models = f"arn:aws:s3:::{_role_bucket(stack_graph, 'artifacts')}/models/x/y/model.tar.gz"
        assert not allows(document, "s3:PutObject", models), f"{role.name} writes models"


def test_main_stack_trusts_the_accounts_oidc_provider_and_declares_none(
    stack_graph: Graph,
) -> None:
    # Given a main stack: the account's one GitHub provider comes from infra/bootstrap
    # Then the stack declares no provider of its own (two stacks in one account would clash)
    providers = stack_graph.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert providers == [], [p.name for p in providers]
    # And every GitHub role trusts the provider the bootstrap creates in this account (the
    # Kubernetes pods' role trusts the cluster's: tests/infra/test_serving_kubernetes.py)
    expected = f"arn:aws:iam::123456789012:oidc-provider/{OIDC}"
    for role in stack_graph.of_type("aws:iam/role:Role"):
        if role.name.endswith("-k8s-serving"):
            continue
        for statement in policy_of(role, "assumeRolePolicy")["Statement"]:
            federated = statement["Principal"].get("Federated")
            if federated is not None:
                assert as_list(federated) == [expected], f"{role.name}: {federated}"


@pytest.mark.parametrize("role", ["training", "inference"])
def test_sagemaker_roles_trust_sagemaker_for_this_account_only(
    stack_graph: Graph, role: str
) -> None:
    trust = statements(policy_of(_role(stack_graph, role), "assumeRolePolicy"))["ServiceAssumes"]
    assert trust["Principal"] == {"Service": ["sagemaker.amazonaws.com"]}, trust["Principal"]
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


@pytest.mark.parametrize(
    ("purpose", "scope"), [("training", "main"), ("training-pr", "pull-requests")]
)
def test_training_roles_read_datasets_and_write_only_their_scope(
    graph_of, purpose: str, scope: str
) -> None:
    graph = graph_of("dev")
    document = _inline_policy(graph, purpose)
    reads, writes = _allowed(document, "s3:GetObject"), _allowed(document, "s3:PutObject")
    assert any(r.endswith("/datasets/*") for r in reads), reads
    bucket = _role_bucket(graph, "artifacts")
    assert writes == [
        f"arn:aws:s3:::{bucket}/training-output/{scope}/*",
        f"arn:aws:s3:::{bucket}/checkpoints/{scope}/*",
    ], writes


def test_inference_role_cannot_write_model_artifacts(stack_graph: Graph) -> None:
    document = _inline_policy(stack_graph, "inference")
    artifacts = _role_bucket(stack_graph, "artifacts")
    writes = _allowed(document, "s3:PutObject")
    assert writes and not any(artifacts in w for w in writes), f"inference writes {writes}"


@pytest.mark.parametrize("purpose", ["plan", "auditor"])
def test_read_only_roles_change_nothing(stack_graph: Graph, purpose: str) -> None:
    # Decrypt and Verify read evidence (signed artifacts); they change no resource. The one
    # write a preview makes is its own lock in the state bucket (and the key S3 encrypts it
    # with): Pulumi's S3 backend locks a stack for `pulumi preview` too.
    read_prefixes = ("Get", "List", "Describe", "Filter")
    lock = f"/.pulumi/locks/organization/mlops/{stack_graph.stack}*"
    # The monitor's writes (its state, metrics and processing jobs) are listed and attacked
    # in tests/infra/test_monitor_grants.py.
    for statement in _inline_policy(stack_graph, purpose)["Statement"]:
        if purpose == "plan" and all(r.endswith(lock) for r in as_list(statement["Resource"])):
            continue
        if purpose == "plan" and statement["Sid"] == "PlanUsesStateKey":
            assert set(statement["Action"]) == {
                "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"}, statement  # fmt: skip
            continue
        for action in as_list(statement["Action"]):
            readonly = action.split(":")[1].startswith(read_prefixes)
            assert readonly or action in {"kms:Decrypt", "kms:Verify"}, f"{purpose} may {action}"


def test_monitor_role_is_assumable_only_from_main(stack_graph: Graph) -> None:
    trust = statements(policy_of(_role(stack_graph, "gh-monitor"), "assumeRolePolicy"))
    subjects = trust["GitHubActionsAssume"]["Condition"]["StringEquals"][f"{OIDC}:sub"]
    assert subjects == "repo:acme/mlops-gitops:ref:refs/heads/main", subjects


def test_monitor_role_reads_captured_data_but_no_models(stack_graph: Graph) -> None:
    reads = _allowed(_inline_policy(stack_graph, "monitor"), "s3:GetObject")
    capture = _role_bucket(stack_graph, "capture")
    artifacts = _role_bucket(stack_graph, "artifacts")
    assert any(capture in r for r in reads), reads
    assert not any(artifacts in r for r in reads), f"monitor reads models: {reads}"


def test_each_launcher_passes_only_its_own_execution_role(stack_graph: Graph) -> None:
    env = stack_graph.stack
    passed = {
        policy.name.removeprefix(f"mlops-{env}-"): _allowed(policy_of(policy), "iam:PassRole")
        for policy in stack_graph.of_type("aws:iam/rolePolicy:RolePolicy")
        if _allowed(policy_of(policy), "iam:PassRole")
    }
    role = lambda suffix: _role(stack_graph, suffix).outputs["arn"]  # noqa: E731
    # the monitor passes itself: its drift comparison as a processing job gains it nothing
    expected = {
        "build": [role("training")],
        "deploy": [role("inference")],
        "monitor": [role("gh-monitor")],
    }
    if env != "prod":
        expected["train"] = [role("training-pr")]
    assert passed == expected, passed


def test_statement_builder_refuses_an_allowed_wildcard_action() -> None:
    with pytest.raises(ValueError, match="Allow of wildcard action 's3:\\*'"):
        Statement(sid="Bad", actions=["s3:*"], resources=["arn:aws:s3:::b"])


def test_statement_builder_requires_a_reason_for_star_resource() -> None:
    with pytest.raises(ValueError, match="needs wildcard_resource_reason"):
        Statement(sid="Bad", actions=["s3:GetObject"], resources=["*"])


def _role_bucket(graph: Graph, role: str) -> str:
    return graph.named(f"mlops-{graph.stack}-{role}", "aws:s3/bucket:Bucket").id


def test_no_role_of_the_stack_may_write_ground_truth_labels(stack_graph: Graph) -> None:
    """The labels judge the endpoint: the endpoint's role (which writes the capture beside
    them) or a pipeline role that could rewrite them could hide a quality regression."""
    from common.iam_document import parse_document
    from infra import contracts
    from policies.reachability import decides

    capture = _role_bucket(stack_graph, "capture")
    labels = f"arn:aws:s3:::{capture}/{contracts.ground_truth_prefix('mlops-x-churn')}day.csv"
    captured = f"arn:aws:s3:::{capture}/{contracts.capture_prefix('mlops-x-churn')}a.jsonl"
    writers, capture_writers = [], []
    for policy in stack_graph.of_type("aws:iam/rolePolicy:RolePolicy"):
        document = parse_document(policy.inputs["policy"])
        for action in ("s3:PutObject", "s3:DeleteObject", "s3:PutObjectAcl"):
            if decides(document, action, labels):
                writers.append(f"{policy.name}: {action}")
        if decides(document, "s3:PutObject", captured):
            capture_writers.append(policy.name)
    assert writers == [], f"roles that may rewrite ground truth: {writers}"
    assert capture_writers == [f"mlops-{stack_graph.stack}-inference"], capture_writers
