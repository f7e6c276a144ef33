"""Keys: a rotating data CMK and a signing key only the release role can use to sign."""

from __future__ import annotations

import json

from infra.graph import Graph, Resource
from tests.infra.helpers import as_list, policy_of, statements


def _key(graph: Graph, role: str) -> Resource:
    return graph.named(f"mlops-{graph.stack}-{role}-key")


def _principals(statement: dict) -> list[str]:
    return as_list(statement["Principal"]["AWS"])


def _role_arn(graph: Graph, suffix: str) -> str:
    return graph.named(f"mlops-{graph.stack}-{suffix}", "aws:iam/role:Role").outputs["arn"]


def test_data_key_rotates_with_a_30_day_deletion_window(stack_graph: Graph) -> None:
    key = _key(stack_graph, "data").inputs
    assert key["enableKeyRotation"] is True, "the data CMK must rotate (CIS 3.6)"
    assert key["deletionWindowInDays"] == 30, f"deletion window: {key['deletionWindowInDays']}"
    assert (
        key["keyUsage"] == "ENCRYPT_DECRYPT" and key["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    )


def test_signing_key_is_asymmetric_sign_verify_p256(stack_graph: Graph) -> None:
    key = _key(stack_graph, "signing").inputs
    assert key["keyUsage"] == "SIGN_VERIFY", key["keyUsage"]
    assert key["customerMasterKeySpec"] == "ECC_NIST_P256", key["customerMasterKeySpec"]


def test_only_the_release_role_may_sign(stack_graph: Graph) -> None:
    document = policy_of(_key(stack_graph, "signing"))
    signers = [
        principal
        for statement in document["Statement"]
        if "kms:Sign" in as_list(statement["Action"])
        for principal in _principals(statement)
    ]
    assert signers == [_role_arn(stack_graph, "gh-release")], f"signers: {signers}"


def test_approver_is_absent_from_the_signing_key_policy(stack_graph: Graph) -> None:
    # The approver can neither sign nor verify: the signing key's policy never names it.
    policy = json.dumps(policy_of(_key(stack_graph, "signing")))
    assert _role_arn(stack_graph, "gh-approve") not in policy, "the approver may not sign"


def test_deploy_and_auditor_roles_verify_and_read_public_key(stack_graph: Graph) -> None:
    verify = statements(policy_of(_key(stack_graph, "signing")))["DeployersAndAuditorsVerify"]
    assert set(as_list(verify["Action"])) == {"kms:DescribeKey", "kms:GetPublicKey", "kms:Verify"}
    principals = set(_principals(verify))
    for role in ("gh-deploy", "auditor"):
        assert _role_arn(stack_graph, role) in principals, f"{role} must verify signatures"


def test_key_policies_grant_no_wildcard_action(stack_graph: Graph) -> None:
    for role in ("data", "signing"):
        for statement in policy_of(_key(stack_graph, role))["Statement"]:
            actions = as_list(statement["Action"])
            assert not any("*" in action for action in actions), f"{role}: {statement['Sid']}"


def test_account_root_administers_but_cannot_use_the_data_key(stack_graph: Graph) -> None:
    admin = statements(policy_of(_key(stack_graph, "data")))["AccountRootAdministers"]
    assert "kms:PutKeyPolicy" in admin["Action"], "root keeps the key manageable"
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:Sign"} & set(admin["Action"]), admin["Action"]


# Each role's statement on the data key and the services it may use the key through.
S3 = "s3.eu-west-1.amazonaws.com"
SAGEMAKER = "sagemaker.eu-west-1.amazonaws.com"
DATA_KEY_USERS = {
    "TrainingUsesKey": ("training", [S3, SAGEMAKER]),
    "InferenceUsesKey": ("inference", [S3, SAGEMAKER]),
    "BuildUsesKey": ("gh-build", [S3, SAGEMAKER]),
    "ReleaseUsesKey": ("gh-release", [S3]),
    "DeployUsesKey": ("gh-deploy", [S3, SAGEMAKER]),
    "MonitorUsesKey": ("gh-monitor", [S3, SAGEMAKER]),
    "AuditorUsesKey": ("auditor", [S3]),
    # the MLflow tracking server's artifact store (every shipped stack has one)
    "TrackingUsesKey": ("tracking", [S3]),
}
PULL_REQUEST_KEY_USERS = {
    "TrainingPrUsesKey": ("training-pr", [S3, SAGEMAKER]),
    "TrainUsesKey": ("gh-train", [S3, SAGEMAKER]),
    "PlanUsesKey": ("gh-plan", [S3]),
}
PROMOTION_KEY_USERS = {"PromoteUsesKey": ("gh-promote", [S3])}
"""Only prod takes promotions (Pulumi.prod.yaml `mlops:promotion`)."""


def test_data_key_users_are_named_roles_only_through_their_services(stack_graph: Graph) -> None:
    # The attack: a dependency in a CI job calls kms:Decrypt on a copied ciphertext with the
    # job's credentials. The key policy lets roles use the key only through S3 or SageMaker.
    expected = dict(DATA_KEY_USERS)
    if stack_graph.stack != "prod":  # prod: no PR training, and the plan role decrypts nothing
        expected |= PULL_REQUEST_KEY_USERS
    else:
        expected |= PROMOTION_KEY_USERS
    if stack_graph.stack == "staging":  # the only stack serving on Kubernetes: its pods' role
        expected["KubernetesUsesKey"] = ("k8s-serving", [S3])
    by_sid = statements(policy_of(_key(stack_graph, "data")))
    users = {
        sid: (statement["Principal"]["AWS"], statement["Condition"])
        for sid, statement in by_sid.items()
        if sid.endswith("UsesKey")
    }
    assert sorted(users) == sorted(expected), sorted(users)
    for sid, (role, services) in expected.items():
        principal, condition = users[sid]
        assert principal == [_role_arn(stack_graph, role)], f"{sid}: {principal}"
        via = as_list(condition["StringEquals"]["kms:ViaService"])
        assert sorted(via) == sorted(services), f"{sid} uses the key via {via}"


def test_approver_and_plan_in_prod_are_absent_from_the_data_key(graph_of) -> None:
    graph = graph_of("prod")
    policy = json.dumps(policy_of(_key(graph, "data")))
    for role in ("gh-approve", "gh-plan"):
        assert _role_arn(graph, role) not in policy, f"{role} is named in prod's data key policy"


def test_data_key_grants_for_aws_resources_only(stack_graph: Graph) -> None:
    grant = statements(policy_of(_key(stack_graph, "data")))["SageMakerAttachesVolumes"]
    assert grant["Action"] == ["kms:CreateGrant"], grant["Action"]
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}, grant


def test_data_key_no_longer_encrypts_cloudtrail(stack_graph: Graph) -> None:
    policy = json.dumps(policy_of(_key(stack_graph, "data")))
    assert "cloudtrail.amazonaws.com" not in policy, "audit logs are on the logs key"


def test_both_keys_have_aliases(stack_graph: Graph) -> None:
    aliases = {
        a.inputs["name"]: a.inputs["targetKeyId"]
        for a in stack_graph.of_type("aws:kms/alias:Alias")
    }
    env = stack_graph.stack
    assert aliases[f"alias/mlops-{env}-data"] == _key(stack_graph, "data").outputs["keyId"]
    assert aliases[f"alias/mlops-{env}-signing"] == _key(stack_graph, "signing").outputs["keyId"]
