"""infra/bootstrap: the per-account foundation, read from its rendered graph.

The graph is the real program run under the main stacks' mocks (account 123456789012,
eu-west-1) with the shipped stack files; expected values are literals.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from infra.bootstrap.offline import render_bootstrap_graph
from infra.graph import Graph, Resource
from ml.audit.engine import failing, run_pack
from policies.pack import BY_NAME
from policies.waivers import DEFAULT_WAIVERS, load_waivers
from tests.infra.helpers import as_list, policy_of, statements

ROLE = "aws:iam/role:Role"
BOUNDARY_ARN = "arn:aws:iam::123456789012:policy/mlops-permissions-boundary"
INFRA_ROLE_ARN = "arn:aws:iam::123456789012:role/mlops-infra-deploy"
STATE_BUCKET = "mlops-state-123456789012-eu-west-1"
OIDC = "token.actions.githubusercontent.com"
DEPLOY_SUBJECTS = [
    "repo:acme/mlops-gitops:environment:dev",
    "repo:acme/mlops-gitops:environment:prod",
    "repo:acme/mlops-gitops:environment:staging",
]


@pytest.fixture(scope="module")
def graph(repo_root: Path) -> Graph:
    return Graph.from_json(render_bootstrap_graph(repo_root))


def _one(graph: Graph, type_: str, name: str) -> Resource:
    return graph.named(name, type_)


def _state_part(graph: Graph, kind: str) -> Resource:
    (part,) = [
        r for r in graph.of_type(f"aws:s3/{kind}") if r.name.startswith("mlops-bootstrap-state")
    ]
    return part


def _infra_role(graph: Graph) -> Resource:
    return _one(graph, ROLE, "mlops-infra-role")


def _boundary(graph: Graph) -> dict:
    return policy_of(_one(graph, "aws:iam/policy:Policy", "mlops-infra-boundary"))


def test_render_bootstrap_declares_the_accounts_one_github_oidc_provider(graph: Graph) -> None:
    (provider,) = graph.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.inputs["url"] == f"https://{OIDC}", provider.inputs
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"], provider.inputs


def test_render_bootstrap_state_bucket_is_named_for_the_account_and_region(graph: Graph) -> None:
    bucket = _state_part(graph, "bucket:Bucket")
    assert bucket.inputs["bucket"] == STATE_BUCKET, bucket.inputs


def test_render_bootstrap_state_bucket_is_sse_kms_with_the_rotating_state_key(graph: Graph) -> None:
    (key,) = graph.of_type("aws:kms/key:Key")
    (alias,) = graph.of_type("aws:kms/alias:Alias")
    kind = "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    rule = _state_part(graph, kind).inputs["rules"][0]
    default = rule["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.outputs["arn"]}, rule
    assert rule["bucketKeyEnabled"] is True, rule
    assert key.inputs["enableKeyRotation"] is True, key.inputs
    assert alias.inputs["name"] == "alias/mlops-state", alias.inputs


def test_render_bootstrap_state_bucket_is_versioned_and_blocks_all_public_access(
    graph: Graph,
) -> None:
    versioning = _state_part(graph, "bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
    block = _state_part(graph, "bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert {f: block[f] for f in flags} == dict.fromkeys(flags, True), block


def test_render_bootstrap_state_bucket_policy_denies_plain_http_and_other_encryption(
    graph: Graph,
) -> None:
    policy = statements(policy_of(_state_part(graph, "bucketPolicy:BucketPolicy")))
    tls = policy["DenyInsecureTransport"]
    assert (tls["Effect"], tls["Principal"], tls["Action"]) == ("Deny", "*", ["s3:*"]), tls
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, tls
    assert sorted(tls["Resource"]) == [
        f"arn:aws:s3:::{STATE_BUCKET}",
        f"arn:aws:s3:::{STATE_BUCKET}/*",
    ]
    # Pulumi's S3 backend sends no encryption header: a header-less upload gets the state
    # key by default; an upload asking for anything else is denied.
    sse = policy["DenyUploadsWithoutSseKms"]
    assert sse["Condition"] == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}
    }, sse
    assert "DenyUploadsWithOtherKmsKey" in policy, sorted(policy)


def test_render_bootstrap_state_bucket_logs_access_to_the_log_bucket(graph: Graph) -> None:
    logging = _state_part(graph, "bucketLogging:BucketLogging")
    log_bucket = _one(graph, "aws:s3/bucket:Bucket", "mlops-bootstrap-logs")
    assert logging.inputs["targetBucket"] == log_bucket.id, logging.inputs


def test_render_bootstrap_infra_role_carries_the_boundary_declared_here(graph: Graph) -> None:
    role = _infra_role(graph)
    assert role.inputs["name"] == "mlops-infra-deploy", role.inputs
    assert role.inputs["permissionsBoundary"] == BOUNDARY_ARN, role.inputs
    boundary = _one(graph, "aws:iam/policy:Policy", "mlops-infra-boundary")
    assert boundary.outputs["arn"] == BOUNDARY_ARN, boundary.outputs


def test_render_bootstrap_infra_role_trusts_exactly_the_stacks_deploy_environments(
    graph: Graph,
) -> None:
    trust = statements(policy_of(_infra_role(graph), "assumeRolePolicy"))
    (only,) = trust.values()
    assert only["Condition"] == {
        "StringEquals": {f"{OIDC}:aud": "sts.amazonaws.com", f"{OIDC}:sub": DEPLOY_SUBJECTS}
    }, only
    assert only["Principal"] == {
        "Federated": [f"arn:aws:iam::123456789012:oidc-provider/{OIDC}"]
    }, only


@pytest.mark.parametrize(
    ("sid", "action", "resource"),
    [
        ("DenyIamUsersAndKeys", "iam:CreateUser", "*"),
        ("DenyIamUsersAndKeys", "iam:CreateAccessKey", "*"),
        ("DenyChangingTheInfraRole", "iam:DeleteRolePermissionsBoundary", INFRA_ROLE_ARN),
        ("DenyChangingTheInfraRole", "iam:PutRolePermissionsBoundary", INFRA_ROLE_ARN),
        ("DenyChangingTheInfraRole", "iam:UpdateAssumeRolePolicy", INFRA_ROLE_ARN),
        ("DenyChangingTheInfraRole", "iam:PutRolePolicy", INFRA_ROLE_ARN),
        ("DenyRemovingAnyBoundary", "iam:DeleteRolePermissionsBoundary", "*"),
        ("DenyChangingTheBoundary", "iam:CreatePolicyVersion", BOUNDARY_ARN),
        ("DenyChangingTheBoundary", "iam:SetDefaultPolicyVersion", BOUNDARY_ARN),
        ("DenyOrganizationAndAccountActions", "organizations:*", "*"),
    ],
)
def test_render_bootstrap_boundary_denies_escapes(
    graph: Graph, sid: str, action: str, resource: str
) -> None:
    statement = statements(_boundary(graph))[sid]
    assert statement["Effect"] == "Deny", statement
    assert action in as_list(statement["Action"]), statement
    assert as_list(statement["Resource"]) == [resource], statement
    assert "Condition" not in statement, statement


def test_render_bootstrap_boundary_denies_roles_created_without_it(graph: Graph) -> None:
    statement = statements(_boundary(graph))["DenyRolesWithoutThisBoundary"]
    assert statement["Effect"] == "Deny"
    assert sorted(statement["Action"]) == ["iam:CreateRole", "iam:PutRolePermissionsBoundary"]
    assert statement["Condition"] == {
        "StringNotEquals": {"iam:PermissionsBoundary": BOUNDARY_ARN}
    }, statement


def test_boundary_allows_every_action_the_main_stacks_grant(graph: Graph, graph_of) -> None:
    # Given the boundary's allowed actions and every role policy of the rendered main stacks
    allowed = {
        a
        for s in _boundary(graph)["Statement"]
        if s["Effect"] == "Allow"
        for a in as_list(s["Action"])
    }
    for stack in ("dev", "staging", "prod"):
        for policy in graph_of(stack).of_type("aws:iam/rolePolicy:RolePolicy"):
            granted = {
                a
                for s in policy_of(policy)["Statement"]
                if s["Effect"] == "Allow"
                for a in as_list(s["Action"])
            }
            # Then a role created under the boundary keeps every grant it was given
            assert granted <= allowed, f"{stack} {policy.name}: {sorted(granted - allowed)}"


def test_render_bootstrap_infra_role_reads_and_writes_the_state_with_the_state_key(
    graph: Graph,
) -> None:
    (policy,) = [
        p for p in graph.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.endswith("state")
    ]
    granted = statements(policy_of(policy))
    (key,) = graph.of_type("aws:kms/key:Key")
    writes = granted["InfraWritesState"]
    assert sorted(writes["Resource"]) == [
        f"arn:aws:s3:::{STATE_BUCKET}/.pulumi/history/mlops/*",
        f"arn:aws:s3:::{STATE_BUCKET}/.pulumi/stacks/mlops/*",
    ], writes
    assert granted["InfraUsesStateKey"]["Resource"] == [key.outputs["arn"]], granted


def test_pack_passes_on_the_bootstrap_graph(graph: Graph) -> None:
    findings = run_pack(graph, load_waivers(DEFAULT_WAIVERS, BY_NAME), today=date.today())
    failures = [m for f in failing(findings) for m in f.evaluation.violations]
    assert failures == [], failures
    judged = {f.policy.name for f in findings if f.status == "pass"}
    assert "iam-infra-role-bounded-and-environment-only" in judged, sorted(judged)


def _mutated(graph: Graph, change) -> Graph:
    """The graph with one change to the infra role's inputs."""
    resources = []
    for resource in graph.resources:
        if resource.name == "mlops-infra-role":
            inputs = copy.deepcopy(resource.inputs)
            change(inputs)
            resource = replace(resource, inputs=inputs)
        resources.append(resource)
    return Graph(graph.stack, tuple(resources))


def _failures(graph: Graph, policy: str) -> list[str]:
    findings = run_pack(graph, None, [BY_NAME[policy]])
    return [m for f in failing(findings) for m in f.evaluation.violations]


def test_attack_removing_the_infra_roles_boundary_fails_the_pack(graph: Graph) -> None:
    # Given the rendered graph, when an attacker drops the boundary from the infra role
    attacked = _mutated(graph, lambda inputs: inputs.pop("permissionsBoundary"))
    # Then the named policy fails on it
    messages = _failures(attacked, "iam-infra-role-bounded-and-environment-only")
    assert any("must carry a permissions boundary" in m for m in messages), messages


@pytest.mark.parametrize(
    "subject",
    ["repo:acme/mlops-gitops:pull_request", "repo:acme/mlops-gitops:ref:refs/heads/main"],
)
def test_attack_widening_the_infra_roles_trust_fails_the_pack(graph: Graph, subject: str) -> None:
    def widen(inputs: dict) -> None:
        trust = json.loads(inputs["assumeRolePolicy"])
        trust["Statement"][0]["Condition"]["StringEquals"][f"{OIDC}:sub"].append(subject)
        inputs["assumeRolePolicy"] = json.dumps(trust)

    messages = _failures(_mutated(graph, widen), "iam-infra-role-bounded-and-environment-only")
    assert any(subject in m for m in messages), messages


def test_attack_wildcard_subject_on_the_infra_role_fails_the_pack(graph: Graph) -> None:
    def widen(inputs: dict) -> None:
        trust = json.loads(inputs["assumeRolePolicy"])
        trust["Statement"][0]["Condition"] = {
            "StringEquals": {f"{OIDC}:aud": "sts.amazonaws.com"},
            "StringLike": {f"{OIDC}:sub": "repo:acme/*"},
        }
        inputs["assumeRolePolicy"] = json.dumps(trust)

    messages = _failures(_mutated(graph, widen), "iam-oidc-trust-pinned")
    assert any("without wildcards" in m for m in messages), messages


def test_render_prod_before_any_model_exists_declares_no_endpoint(
    tmp_path: Path, repo_root: Path
) -> None:
    # Given prod's stack file with the model group declared but no version (the first up)
    from infra.offline import render_graph

    text = (repo_root / "Pulumi.prod.yaml").read_text(encoding="utf-8")
    assert "      version: 1\n" in text, "the shipped prod stack serves version 1"
    (tmp_path / "Pulumi.prod.yaml").write_text(text.replace("      version: 1\n", "      {}\n"))
    # When it is rendered
    first = Graph.from_json(render_graph("prod", tmp_path))
    # Then the registry exists and nothing serves: no model, endpoint or alarm
    assert first.of_type("aws:sagemaker/modelPackageGroup:ModelPackageGroup"), "group"
    for kind in ("model:Model", "endpoint:Endpoint", "endpointConfiguration:EndpointConfiguration"):
        assert first.of_type(f"aws:sagemaker/{kind}") == [], kind
    serving_alarms = [
        a for a in first.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if "-cis-" not in a.name
    ]
    assert serving_alarms == [], [a.name for a in serving_alarms]


def test_cli_validate_stack_trusting_its_own_repository_prints_no_warning(
    tmp_path: Path, repo_root: Path
) -> None:
    # Given the dev stack file with the example org and repo (and placeholder digest) replaced
    text = (repo_root / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    text = text.replace("org: acme", "org: example-co").replace("repo: mlops-gitops", "repo: ml")
    text = text.replace("sha256:" + "0" * 64, "sha256:" + "1" * 64)
    (tmp_path / "Pulumi.dev.yaml").write_text(text, encoding="utf-8")
    # When it is validated
    result = subprocess.run(
        [str(Path(sys.executable).with_name("mlops")), "infra", "validate", "--stack", "dev",
         "--root", str(tmp_path)],
        capture_output=True, text=True, check=False, cwd=repo_root,
    )  # fmt: skip
    # Then one line says it is valid, and there is no warning
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["dev: stack config is valid (dev, eu-west-1)"], (
        result.stdout
    )


@pytest.mark.parametrize(
    ("action", "resource", "allowed"),
    [
        ("kms:CreateKey", "*", True),
        ("s3:CreateBucket", "arn:aws:s3:::mlops-prod-artifacts-210c94a", True),
        ("s3:PutBucketPolicy", "arn:aws:s3:::another-teams-bucket", False),
        ("iam:CreateRole", "arn:aws:iam::123456789012:role/mlops-prod-gh-deploy-b7ced61", True),
        ("iam:PutRolePolicy", "arn:aws:iam::123456789012:role/mlops-prod-gh-deploy-b7ced61", True),
        (
            "sagemaker:CreateEndpoint",
            "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/mlops-prod-churn-classifier",
            True,
        ),
        ("iam:CreateUser", "arn:aws:iam::123456789012:user/backdoor", False),
        ("iam:CreateAccessKey", "arn:aws:iam::123456789012:user/backdoor", False),
        (
            "iam:DeleteRolePermissionsBoundary",
            "arn:aws:iam::123456789012:role/mlops-infra-deploy",
            False,
        ),
    ],
)
def test_infra_role_may_do_what_pulumi_up_needs_and_no_more_than_its_boundary(
    graph: Graph, action: str, resource: str, allowed: bool
) -> None:
    # given the infra role's own inline policies and its boundary, as rendered
    from common.iam_document import parse_document
    from policies.evaluation import decides

    role_policies = [
        p
        for p in graph.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.name.startswith("mlops-infra")
    ]
    identity = [s for p in role_policies for s in parse_document(p.inputs["policy"])]
    boundary = parse_document(json.dumps(_boundary(graph)))
    # when an action of `pulumi up` (or an escape) is judged: identity AND boundary
    effective = decides(identity, action, resource) and decides(boundary, action, resource)
    # then the platform's actions are allowed and the escapes are not
    assert effective is allowed, (action, resource)
