"""`mlops promote` across two emulated accounts, with IAM enforced.

Staging is bootstrapped from its rendered graph in the emulator's default account and prod
from its graph in the account staging's file names for it (`promotesTo`), each with its
roles, key, bucket and group policies; every step runs as the role that runs it on AWS.
The attacks are one change each: another role tries the promotion, or the package it is
handed is not what staging released.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from common.errors import MlopsError
from infra.config import load_stack
from infra.graph import Graph
from ml.artifacts import sse_kms_arguments
from ml.emulator import bootstrap_stack, credentials_for
from ml.emulator import iam as emulator_iam
from ml.emulator.bootstrap import EmulatedStack, in_account, promotion_peers
from ml.registry.identity import caller_arn
from ml.registry.packages import approve
from ml.registry.promote import PromotionSource, PromotionTarget, promote
from ml.registry.publish import RegistryTarget, ValidationReport, publish_and_register
from tests.conftest import REPO_ROOT, Cli
from tests.ml.provenance_support import (  # noqa: F401
    REGION,
    Aws,
    aws_fixture,
    create_signing_key,
    sign_directory,
    write_artifact,
)

MODEL = "churn-classifier"
STAGING_GROUP = "mlops-staging-churn-classifier"
PROD_GROUP = "mlops-prod-churn-classifier"
PROD_ACCOUNT = "555566667777"
"""Pulumi.staging.yaml `promotesTo`: the account prod's role is granted from."""
STAGING_ACCOUNT = "123456789012"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-staging-model-server:v1"


@dataclass
class Accounts:
    aws: Aws
    staging: EmulatedStack
    prod: EmulatedStack
    tmp: Path

    def clients(self, stack: EmulatedStack, duty: str) -> dict[str, Any]:
        """kms, s3, sagemaker and sts clients of a session of `stack`'s role for `duty`."""
        issued = credentials_for(stack, duty, self.aws.sts)
        keys = {
            "aws_access_key_id": issued.access_key_id,
            "aws_secret_access_key": issued.secret_access_key,
            "aws_session_token": issued.session_token,
        }
        return {
            name: boto3.client(name, region_name=REGION, **keys)
            for name in ("kms", "s3", "sagemaker", "sts")
        }

    def release_in_staging(self, *, approved: bool = True) -> int:
        """Sign and register a model as staging's gh-release; approve it as gh-approve."""
        release = self.clients(self.staging, "release")
        artifact = write_artifact(self.tmp / "model")
        sign_directory(
            release["kms"],
            self.staging.signing_key_arn,
            artifact,
            signed_by=caller_arn(release["sts"]),
        )
        report = self.tmp / "validation.json"
        report.write_text(json.dumps({"passed": True}))
        published = publish_and_register(
            artifact,
            RegistryTarget(
                group=STAGING_GROUP,
                owner="ml-platform",
                image=IMAGE,
                bucket=self.staging.artifact_bucket,
                kms_key_id=self.staging.data_key_arn,
                signing_key_id=self.staging.signing_key_arn,
                model=MODEL,
                stack="staging",
            ),
            kms=release["kms"],
            s3=release["s3"],
            sagemaker=release["sagemaker"],
            sts=release["sts"],
            validation=ValidationReport(report, True),
        )
        version = published.package.version
        if approved:
            approver = self.clients(self.staging, "approve")
            approve(
                approver["sagemaker"],
                STAGING_GROUP,
                version,
                "staging watched healthy",
                approved_by=caller_arn(approver["sts"]),
            )
        return version

    def staging_model_data(self, version: int) -> str:
        """The model data URL staging's package `version` records (read as administrator)."""
        group = f"arn:aws:sagemaker:{REGION}:{STAGING_ACCOUNT}:model-package/{STAGING_GROUP}"
        arn = f"{group}/{version}"
        package = self.aws.sagemaker.describe_model_package(ModelPackageName=arn)
        return str(package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"])

    def promote_as(self, stack: EmulatedStack, duty: str, version: int) -> Any:
        """`mlops promote --from staging --to prod` with the clients of `stack`'s `duty`."""
        c = self.clients(stack, duty)
        return promote(
            MODEL,
            version,
            PromotionSource(
                stack="staging",
                account_id=self.staging.account_id,
                region=REGION,
                partition="aws",
                group=STAGING_GROUP,
                trusted_key_arns=(self.staging.signing_key_arn,),
            ),
            PromotionTarget(
                stack="prod",
                group=PROD_GROUP,
                bucket=self.prod.artifact_bucket,
                kms_key_id=self.prod.data_key_arn,
                owner="ml-platform",
            ),
            kms=c["kms"],
            s3=c["s3"],
            sagemaker=c["sagemaker"],
            sts=c["sts"],
        )


@pytest.fixture
def accounts(
    aws: Aws, graph_of: Callable[[str], Graph], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Accounts:
    """Staging and prod bootstrapped as the administrator, each in its own account."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", emulator_iam.ADMINISTRATOR_KEY)
    staging = bootstrap_stack(
        graph_of("staging"), kms=aws.kms, s3=aws.s3, sagemaker=aws.sagemaker, iam=aws.iam
    )
    prod_clients = {
        name: in_account(boto3.client(name, region_name=REGION), PROD_ACCOUNT)
        for name in ("kms", "s3", "sagemaker", "iam")
    }
    prod = bootstrap_stack(
        graph_of("prod"),
        **prod_clients,
        peers=promotion_peers(load_stack("prod", REPO_ROOT), staging),
    )
    return Accounts(aws, staging, prod, tmp_path)


def _denials(ledger: emulator_iam.Ledger) -> list[str]:
    return [denial.line() for denial in ledger.denials]


# --- the promotion -------------------------------------------------------------------------


def test_promote_approved_staging_package_registers_pending_copy_in_prod(
    accounts: Accounts,
) -> None:
    # given an approved staging package, released by staging's roles
    with emulator_iam.enforced() as ledger:
        version = accounts.release_in_staging()
        # when prod's promoting role promotes it
        promoted = accounts.promote_as(accounts.prod, "promote", version)
    # then prod's registry holds a pending copy whose provenance is the staging package
    package = promoted.package
    assert promoted.created and package.group == PROD_GROUP, package
    assert package.approval_status == "PendingManualApproval", package.approval_status
    assert package.arn.startswith(f"arn:aws:sagemaker:{REGION}:{PROD_ACCOUNT}:"), package.arn
    meta = package.metadata
    assert meta["source_package_arn"] == (
        f"arn:aws:sagemaker:{REGION}:{STAGING_ACCOUNT}:model-package/{STAGING_GROUP}/1"
    ), meta
    assert meta["source_account"] == STAGING_ACCOUNT, meta
    assert meta["source_artifact_digest"] == meta["artifact_digest"], meta
    assert meta["signing_key_arn"] == accounts.staging.signing_key_arn, meta
    assert "mlops-prod-gh-promote" in meta["registered_by"], meta["registered_by"]
    assert not ledger.denials, _denials(ledger)


def test_promote_copies_artifact_signature_and_report_under_prod_models_with_prod_cmk(
    accounts: Accounts,
) -> None:
    # given a promoted package
    with emulator_iam.enforced():
        version = accounts.release_in_staging()
        promoted = accounts.promote_as(accounts.prod, "promote", version)
    # then its three files sit under prod's models/<group>/<digest>/, under prod's data key
    s3 = in_account(boto3.client("s3", region_name=REGION), PROD_ACCOUNT)
    prefix = f"models/{PROD_GROUP}/{promoted.artifact_digest}/"
    listed = s3.list_objects_v2(Bucket=accounts.prod.artifact_bucket, Prefix=prefix)
    names = sorted(item["Key"].removeprefix(prefix) for item in listed.get("Contents", []))
    assert names == ["model.tar.gz", "signature.dsse.json", "validation.json"], names
    for name in names:
        head = s3.head_object(Bucket=accounts.prod.artifact_bucket, Key=prefix + name)
        assert head["SSEKMSKeyId"] == accounts.prod.data_key_arn, (name, head["SSEKMSKeyId"])


def test_promote_calls_read_staging_through_its_policies_and_write_only_prod(
    accounts: Accounts,
) -> None:
    # given a promotion under enforcement
    with emulator_iam.enforced() as ledger:
        version = accounts.release_in_staging()
        ledger.clear()
        accounts.promote_as(accounts.prod, "promote", version)
    # then every call into staging's account was a read, and every write was prod's
    staging, prod = f":{STAGING_ACCOUNT}:", f":{PROD_ACCOUNT}:"
    calls = {(c.action, c.resource) for c in ledger.calls}
    staging_actions = {a for a, r in calls if staging in r or accounts.staging.artifact_bucket in r}
    assert staging_actions == {
        "sagemaker:DescribeModelPackage",
        "s3:GetObject",
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:GetPublicKey",
        "kms:Verify",
    }, staging_actions
    writes = {r for a, r in calls if a in ("s3:PutObject", "sagemaker:CreateModelPackage")}
    assert writes and all(prod in r or accounts.prod.artifact_bucket in r for r in writes), writes


def test_promote_twice_returns_the_same_prod_package(accounts: Accounts) -> None:
    with emulator_iam.enforced():
        version = accounts.release_in_staging()
        first = accounts.promote_as(accounts.prod, "promote", version)
        again = accounts.promote_as(accounts.prod, "promote", version)
    assert not again.created and again.package.arn == first.package.arn, again.package.arn


# --- refused promotions --------------------------------------------------------------------


def test_promote_pending_package_is_refused_with_one_line(accounts: Accounts) -> None:
    with emulator_iam.enforced():
        version = accounts.release_in_staging(approved=False)
        with pytest.raises(MlopsError) as raised:
            accounts.promote_as(accounts.prod, "promote", version)
    assert raised.value.exit_code == 1, raised.value.exit_code
    assert str(raised.value) == (
        f"refusing to promote staging package {STAGING_GROUP}/1: its status is "
        "PendingManualApproval, not Approved; approve it in its own stack first (`mlops approve`)"
    )


def test_promote_missing_version_is_bad_input(accounts: Accounts) -> None:
    with emulator_iam.enforced(), pytest.raises(MlopsError) as raised:
        accounts.promote_as(accounts.prod, "promote", 9)
    assert raised.value.exit_code == 2, raised.value.exit_code
    assert str(raised.value).startswith(
        f"cannot promote staging package {STAGING_GROUP}/9: no such package in account "
        f"{STAGING_ACCOUNT}"
    ), str(raised.value)


def test_promote_tampered_artifact_is_refused(accounts: Accounts) -> None:
    # given an approved package whose model data was replaced in staging's bucket afterwards
    with emulator_iam.enforced():
        version = accounts.release_in_staging()
    url = accounts.staging_model_data(version)
    other = write_artifact(accounts.tmp / "other")
    (other / "model.txt").write_text("tree\nversion=v4\nattacker=1\n")
    sign_directory(accounts.aws.kms, create_signing_key(accounts.aws.kms, "alias/x"), other)
    from ml.provenance.archive import pack_artifact

    tarball = pack_artifact(other, None, accounts.tmp / "evil.tar.gz")
    bucket, key = url.removeprefix("s3://").split("/", 1)
    accounts.aws.s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=tarball.read_bytes(),
        **sse_kms_arguments(accounts.staging.data_key_arn),
    )
    # when prod promotes it, then the signature check refuses
    with emulator_iam.enforced(), pytest.raises(MlopsError) as raised:
        accounts.promote_as(accounts.prod, "promote", version)
    assert raised.value.exit_code == 1, raised.value.exit_code
    assert "refusing to promote" in str(raised.value) and "file model.txt" in str(raised.value)


def test_promote_package_signed_by_untrusted_key_is_refused_even_if_approved(
    accounts: Accounts,
) -> None:
    # The attack: a package signed with a key prod does not trust, registered and approved
    # in staging by someone who can (here the administrator), claiming the trusted key.
    aws = accounts.aws
    rogue = create_signing_key(aws.kms, "alias/rogue")
    artifact = write_artifact(accounts.tmp / "rogue")
    sign_directory(aws.kms, rogue, artifact, signed_by="arn:aws:sts::123456789012:assumed-role/x/y")
    from ml.provenance.archive import pack_artifact
    from ml.provenance.manifest import build_manifest

    digest = build_manifest(artifact).digest()
    prefix = f"models/{STAGING_GROUP}/{digest}/"
    tarball = pack_artifact(artifact, None, accounts.tmp / "rogue.tar.gz")
    kms_args = sse_kms_arguments(accounts.staging.data_key_arn)
    bucket = accounts.staging.artifact_bucket
    model_data = tarball.read_bytes()
    aws.s3.put_object(Bucket=bucket, Key=prefix + "model.tar.gz", Body=model_data, **kms_args)
    signature = (artifact / "signature.dsse.json").read_bytes()
    aws.s3.put_object(Bucket=bucket, Key=prefix + "signature.dsse.json", Body=signature, **kms_args)
    arn = aws.sagemaker.create_model_package(
        ModelPackageGroupName=STAGING_GROUP,
        ModelPackageDescription=f"artifact sha256:{digest}",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{bucket}/{prefix}model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties={
            "artifact_digest": f"sha256:{digest}",
            "signing_key_arn": accounts.staging.signing_key_arn,
            "signature_s3_uri": f"s3://{bucket}/{prefix}signature.dsse.json",
            "validation_gates": "passed",
            "registered_by": "arn:aws:sts::123456789012:assumed-role/a/b",
            "approved_by": "arn:aws:sts::123456789012:assumed-role/c/d",
        },
    )["ModelPackageArn"]
    version = int(arn.rsplit("/", 1)[-1])
    # when prod promotes it, then the signature is not the trusted key's: refused
    with emulator_iam.enforced(), pytest.raises(MlopsError) as raised:
        accounts.promote_as(accounts.prod, "promote", version)
    assert raised.value.exit_code == 1, raised.value.exit_code
    assert "signature: made by another key" in str(raised.value), str(raised.value)


# --- other roles cannot promote ------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "duty", "denied", "account"),
    [
        # staging's own signer reads staging, but its session acts in staging's account and
        # its policy names no prod group: denied before it could write anything
        ("staging", "release", "sagemaker:ListModelPackages", STAGING_ACCOUNT),
        # prod's signer holds no grant on staging (only gh-promote is named there)
        ("prod", "release", "sagemaker:DescribeModelPackage", STAGING_ACCOUNT),
        # prod's plan role, which pull requests reach, reads nothing of staging
        ("prod", "plan", "sagemaker:DescribeModelPackage", STAGING_ACCOUNT),
    ],
)
def test_promote_as_another_role_is_denied(
    accounts: Accounts, stack: str, duty: str, denied: str, account: str
) -> None:
    with emulator_iam.enforced() as ledger:
        version = accounts.release_in_staging()
        ledger.clear()
        with pytest.raises(MlopsError):
            accounts.promote_as(getattr(accounts, stack), duty, version)
    assert ledger.denials, f"{stack} {duty} was not denied"
    first = ledger.denials[0]
    assert (first.action, first.resource.split(":")[4]) == (denied, account), _denials(ledger)
    assert not any(c.action == "sagemaker:CreateModelPackage" for c in ledger.calls)


@pytest.mark.parametrize(
    ("stack", "duty"), [("prod", "release"), ("prod", "plan"), ("prod", "deploy")]
)
def test_other_prod_roles_cannot_read_staging_models(
    accounts: Accounts, stack: str, duty: str
) -> None:
    # The attack: another prod role copies staging's released model out of its bucket
    with emulator_iam.enforced() as ledger:
        version = accounts.release_in_staging()
        url = accounts.staging_model_data(version)
        bucket, key = url.removeprefix("s3://").split("/", 1)
        s3 = accounts.clients(getattr(accounts, stack), duty)["s3"]
        with pytest.raises(ClientError) as raised:
            s3.get_object(Bucket=bucket, Key=key)
    assert raised.value.response["Error"]["Code"] == "AccessDenied", raised.value.response
    assert ledger.denials[-1].action == "s3:GetObject", _denials(ledger)


# --- the command's bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--from", "prod", "--to", "prod"],
            "error: --from and --to are both prod: promote from one stack into another",
        ),
        (
            ["--from", "dev", "--to", "prod"],
            "error: stack prod promotes from staging, not dev (mlops:promotion.fromStack in "
            "Pulumi.prod.yaml)",
        ),
        (
            ["--from", "prod", "--to", "staging"],
            "error: stack staging takes no promotions: add mlops:promotion (fromStack, "
            "sourceAccountId, trustedSigningKeyArns) to Pulumi.staging.yaml",
        ),
        (
            ["--from", "staging", "--to", "qa"],
            "error: unknown stack 'qa': choose one of dev, staging, prod",
        ),
    ],
)
def test_promote_command_bad_stacks_exit_2_with_one_line(
    args: list[str], line: str, cli: Cli
) -> None:
    code, out, err = cli("promote", "--version", "1", *args, "--bucket", "b", "--kms-key-id", "k")
    assert (code, out, err.splitlines()) == (2, "", [line]), err


# --- prod's release verify after its approver approved ---------------------------------------


def _prod_check(accounts: Accounts, version: int, key_arns: tuple[str, ...]) -> Any:
    """`mlops release verify`'s check of prod's package `version`, as prod's deploy role."""
    from ml.provenance.check import kms_verifier
    from ml.registry.check import TrustedSource, check_model_package

    deploy = accounts.clients(accounts.prod, "deploy")
    return check_model_package(
        deploy["sagemaker"],
        deploy["s3"],
        kms_verifier(deploy["kms"], accounts.prod.signing_key_arn),
        group=PROD_GROUP,
        version=version,
        artifact_bucket=accounts.prod.artifact_bucket,
        source=TrustedSource(
            stack="staging",
            account_id=STAGING_ACCOUNT,
            key_arns=key_arns,
            verifier_for=lambda arn: kms_verifier(deploy["kms"], arn),
        ),
    )


def _promote_and_approve_in_prod(accounts: Accounts) -> int:
    version = accounts.release_in_staging()
    promoted = accounts.promote_as(accounts.prod, "promote", version).package
    approver = accounts.clients(accounts.prod, "approve")
    approve(
        approver["sagemaker"],
        PROD_GROUP,
        promoted.version,
        "promoted from staging",
        approved_by=caller_arn(approver["sts"]),
    )
    return promoted.version


def test_prod_verify_passes_for_promoted_version_approved_in_prod(accounts: Accounts) -> None:
    # given a promoted package that prod's approver approved
    with emulator_iam.enforced() as ledger:
        version = _promote_and_approve_in_prod(accounts)
        # when prod's deploy role verifies it with the staging key prod trusts
        check = _prod_check(accounts, version, (accounts.staging.signing_key_arn,))
    # then it passes: approved by another identity, signature valid, bound to the source
    assert check.ok, check.reason
    assert check.reason.startswith(f"model package {PROD_GROUP}/1: approved by "), check.reason
    assert not ledger.denials, _denials(ledger)


def test_prod_verify_fails_when_prod_no_longer_trusts_the_signing_key(accounts: Accounts) -> None:
    # The attack: a package promoted under a key prod has since removed from its trust list
    with emulator_iam.enforced():
        version = _promote_and_approve_in_prod(accounts)
        check = _prod_check(accounts, version, ("arn:aws:kms:eu-west-1:123456789012:key/other",))
    assert not check.ok and check.failed == ("promotion",), check.failed
    assert "not one of mlops:promotion.trustedSigningKeyArns" in check.reason, check.reason


def test_prod_verify_fails_for_a_promoted_package_whose_source_was_rewritten(
    accounts: Accounts,
) -> None:
    # The attack: prod's approver rewrites the recorded source to another staging version;
    # the signed statement still names version 1, so the binding check refuses it.
    with emulator_iam.enforced():
        version = _promote_and_approve_in_prod(accounts)
    arn = f"arn:aws:sagemaker:{REGION}:{PROD_ACCOUNT}:model-package/{PROD_GROUP}/{version}"
    sagemaker = in_account(boto3.client("sagemaker", region_name=REGION), PROD_ACCOUNT)
    metadata = sagemaker.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"]
    metadata["source_package_arn"] = metadata["source_package_arn"].replace("/1", "/2")
    sagemaker.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", CustomerMetadataProperties=metadata
    )
    with emulator_iam.enforced():
        check = _prod_check(accounts, version, (accounts.staging.signing_key_arn,))
    assert not check.ok and "binding" in check.failed, check.reason
    assert "signed for version 1, not 2" in check.reason, check.reason
