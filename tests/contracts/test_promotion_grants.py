"""Promotion staging -> prod: both sides' grants exist in the rendered graphs, and no more.

Staging (source) names prod's promoting role in its bucket, data key and registry policies
and prod's account in its signing key policy; prod's `gh-promote` role holds the matching
reads of staging plus its own registration. Expected values are the shipped stack files'
accounts, written out here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from infra.graph import Graph, Resource

PROD_ACCOUNT, STAGING_ACCOUNT = "555566667777", "222233334444"
PROMOTER = "arn:aws:iam::555566667777:role/mlops-prod-gh-promote"
GROUP = "mlops-staging-churn-classifier"
STAGING_ARTIFACTS = "arn:aws:s3:::mlops-staging-artifacts-*"
"""The encryption context S3 sends KMS for staging's artifact bucket (S3 Bucket Keys)."""
TRUSTED_KEY = "arn:aws:kms:eu-west-1:222233334444:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _statements(document: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in json.loads(document)["Statement"]}


def _list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _key_policy(graph: Graph, alias: str) -> dict[str, dict[str, Any]]:
    (found,) = [
        a
        for a in graph.of_type("aws:kms/alias:Alias")
        if a.inputs["name"] == f"alias/mlops-{graph.stack}-{alias}"
    ]
    target = found.inputs["targetKeyId"]
    key = next(k for k in graph.of_type("aws:kms/key:Key") if target in (k.id, k.outputs["arn"]))
    return _statements(key.inputs["policy"])


def _role_policy(graph: Graph, role: str) -> dict[str, dict[str, Any]]:
    found: Resource = graph.named(f"mlops-{graph.stack}-{role}", "aws:iam/role:Role")
    (policy,) = graph.attached_to("aws:iam/rolePolicy:RolePolicy", "role", found.id)
    return _statements(policy.inputs["policy"])


def test_staging_artifact_bucket_lets_only_prod_promoter_read_its_group_models(
    graph_of: Callable[[str], Graph],
) -> None:
    graph = graph_of("staging")
    bucket = next(b for b in graph.of_type("aws:s3/bucket:Bucket") if "artifacts" in b.name)
    (policy,) = graph.attached_to("aws:s3/bucketPolicy:BucketPolicy", "bucket", bucket.id)
    named = [
        s
        for s in json.loads(policy.inputs["policy"])["Statement"]
        if "AWS" in str(s.get("Principal"))
    ]
    assert named == [
        {
            "Sid": "PromotersReadReleasedModels",
            "Effect": "Allow",
            "Principal": {"AWS": [PROMOTER]},
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{bucket.id}/models/{GROUP}/*"],
        }
    ], named


def test_staging_data_key_lets_prod_promoter_decrypt_only_through_s3(
    graph_of: Callable[[str], Graph],
) -> None:
    grant = _key_policy(graph_of("staging"), "data")["PromotersDecryptModelsViaS3"]
    assert grant["Principal"] == {"AWS": [PROMOTER]}, grant
    assert _list(grant["Action"]) == ["kms:Decrypt"], grant
    assert grant["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"},
        "StringLike": {
            "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::mlops-staging-artifacts-*"
        },
    }, grant


def test_staging_signing_key_lets_prod_account_verify_never_sign(
    graph_of: Callable[[str], Graph],
) -> None:
    policy = _key_policy(graph_of("staging"), "signing")
    grant = policy["PromotingAccountsVerify"]
    assert grant["Principal"] == {"AWS": [f"arn:aws:iam::{PROD_ACCOUNT}:root"]}, grant
    assert sorted(_list(grant["Action"])) == ["kms:DescribeKey", "kms:GetPublicKey", "kms:Verify"]
    signers = _list(policy["ReleaseSignerSigns"]["Principal"]["AWS"])
    assert all(PROD_ACCOUNT not in arn for arn in signers), signers


def test_staging_model_group_policy_lets_prod_promoter_describe_packages(
    graph_of: Callable[[str], Graph],
) -> None:
    graph = graph_of("staging")
    (policy,) = graph.of_type("aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy")
    assert policy.inputs["modelPackageGroupName"] == GROUP, policy.inputs
    (grant,) = json.loads(policy.inputs["resourcePolicy"])["Statement"]
    assert grant["Principal"] == {"AWS": [PROMOTER]}, grant
    assert sorted(grant["Action"]) == [
        "sagemaker:DescribeModelPackage",
        "sagemaker:DescribeModelPackageGroup",
    ], grant


def test_prod_promoter_has_fixed_name_and_trusts_only_the_promotion_environment(
    graph_of: Callable[[str], Graph],
) -> None:
    role = graph_of("prod").named("mlops-prod-gh-promote", "aws:iam/role:Role")
    assert role.id == "mlops-prod-gh-promote", role.id  # the name staging's policies use
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    subjects = trust["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"]
    assert _list(subjects) == ["repo:acme/mlops-gitops:environment:model-promotion-prod"], trust


def test_prod_promoter_reads_staging_narrowly_and_never_signs_or_approves(
    graph_of: Callable[[str], Graph],
) -> None:
    policy = _role_policy(graph_of("prod"), "gh-promote")
    read = policy["ReadSourceReleasedModels"]
    assert read["Resource"] == ["arn:aws:s3:::mlops-staging-artifacts-*/models/mlops-staging-*"]
    assert read["Condition"] == {"StringEquals": {"s3:ResourceAccount": STAGING_ACCOUNT}}, read
    decrypt = policy["DecryptSourceModelsViaS3"]
    assert decrypt["Resource"] == [f"arn:aws:kms:eu-west-1:{STAGING_ACCOUNT}:key/*"], decrypt
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == "s3.eu-west-1.amazonaws.com"
    assert decrypt["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:s3:arn": STAGING_ARTIFACTS
    }, decrypt
    assert policy["VerifyWithTrustedSourceKeys"]["Resource"] == [TRUSTED_KEY], policy
    assert policy["RegisterPendingModels"]["Condition"] == {
        "StringEquals": {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}
    }
    assert policy["NeverApprove"]["Effect"] == "Deny", policy["NeverApprove"]
    actions = {a for s in policy.values() if s["Effect"] == "Allow" for a in _list(s["Action"])}
    assert not {"kms:Sign", "sagemaker:UpdateModelPackage"} & actions, sorted(actions)


def test_prod_model_trusts_staging_key_and_takes_promotions_from_staging(
    graph_of: Callable[[str], Graph],
) -> None:
    (model,) = graph_of("prod").of_type("aws:sagemaker/model:Model")
    environment = model.inputs["primaryContainer"]["environment"]
    assert environment["MLOPS_PROMOTED_FROM"] == "staging", environment
    pems = environment["MLOPS_SIGNING_PUBLIC_KEY_PEM"].count("-----BEGIN PUBLIC KEY-----")
    assert pems == 2, "prod's own signing key and the trusted staging key"


def test_stacks_without_promotion_hold_no_promotion_grants(
    graph_of: Callable[[str], Graph],
) -> None:
    for stack in ("dev", "staging"):
        graph = graph_of(stack)
        roles = [r.name for r in graph.of_type("aws:iam/role:Role")]
        assert not [name for name in roles if name.endswith("gh-promote")], (stack, roles)
    assert not graph_of("dev").of_type(
        "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy"
    ), "dev promotes to nowhere"
