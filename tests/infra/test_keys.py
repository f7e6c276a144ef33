"""Keys: a rotating data CMK and a signing key only the release role can use to sign."""

from __future__ import annotations

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


def test_data_key_users_are_the_named_workload_roles(stack_graph: Graph) -> None:
    users = set(
        _principals(statements(policy_of(_key(stack_graph, "data")))["WorkloadRolesUseKey"])
    )
    expected = {
        _role_arn(stack_graph, r) for r in ("training", "inference", "gh-train", "gh-release")
    }
    assert users == expected, f"data key users: {sorted(users)}"


def test_both_keys_have_aliases(stack_graph: Graph) -> None:
    aliases = {
        a.inputs["name"]: a.inputs["targetKeyId"]
        for a in stack_graph.of_type("aws:kms/alias:Alias")
    }
    env = stack_graph.stack
    assert aliases[f"alias/mlops-{env}-data"] == _key(stack_graph, "data").outputs["keyId"]
    assert aliases[f"alias/mlops-{env}-signing"] == _key(stack_graph, "signing").outputs["keyId"]
