"""`verify_stack`: every model a stack declares, through the provenance check, on moto."""

from __future__ import annotations

from pathlib import Path

from ml.provenance.check import kms_verifier
from ml.release.stackfile import plan_edit
from ml.release.verify import markdown, verify_stack
from tests.ml.provenance_support import aws_fixture  # noqa: F401 - fixture
from tests.ml.release_support import (
    MODEL,
    Registry,
    registry_fixture,  # noqa: F401 - fixture
    stack_config,
    stack_root_fixture,  # noqa: F401 - fixture
)

STACK = "staging"


def _verify(aws, registry: Registry, root: Path, version: int):
    plan_edit(root / f"Pulumi.{STACK}.yaml", {MODEL: version}).write()
    verifier = kms_verifier(aws.kms, f"alias/mlops-{STACK}-signing")
    return verify_stack(
        stack_config(root, STACK), sagemaker=aws.sagemaker, s3=aws.s3, verifier=verifier
    )


def test_verify_stack_with_approved_signed_version_passes(aws, registry, stack_root):
    # Given the stack declares a version that is registered, approved, gated and signed,
    version = registry.publish()
    # when the stack is verified,
    result = _verify(aws, registry, stack_root, version)
    # then every check passes.
    assert result.ok, result.summary()
    assert [(c.group, c.version) for c in result.checks] == [(registry.group, version)], result


def test_verify_stack_with_pending_version_fails_on_approval(aws, registry, stack_root):
    # Given the declared version is registered but still pending approval,
    version = registry.publish(approved=False)
    # when the stack is verified, then it fails, naming the approval status.
    result = _verify(aws, registry, stack_root, version)
    assert not result.ok, "a pending version must not pass"
    assert "PendingManualApproval" in result.summary(), result.summary()
    assert not result.missing_packages, "the package exists"


def test_verify_stack_with_tampered_model_data_fails_on_the_signature(aws, registry, stack_root):
    # Given an approved version whose model.tar.gz in S3 was replaced by another model's,
    version = registry.publish()
    other = registry.publish()
    tampered = aws.s3.get_object(Bucket=registry.bucket, Key=registry.model_data_key(other))
    aws.s3.put_object(
        Bucket=registry.bucket,
        Key=registry.model_data_key(version),
        Body=tampered["Body"].read(),
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=registry.data_key_arn,
    )
    # when the stack is verified,
    result = _verify(aws, registry, stack_root, version)
    # then the signature check fails for that version.
    assert not result.ok, "a swapped artifact must not pass"
    assert "signature" in result.failures[0].failed, result.failures[0]


def test_verify_stack_with_version_the_registry_lacks_reports_a_missing_package(
    aws, registry, stack_root
):
    # Given the stack file declares version 7 of a group that holds one version,
    registry.publish()
    # when the stack is verified,
    result = _verify(aws, registry, stack_root, 7)
    # then it fails as a missing package (bad input), naming the group and version.
    assert result.missing_packages, result.summary()
    assert f"{registry.group} has no version 7" in result.summary(), result.summary()


def test_markdown_of_failed_verification_shows_the_row_and_the_reason(aws, registry, stack_root):
    # Given a failed verification (pending approval),
    version = registry.publish(approved=False)
    result = _verify(aws, registry, stack_root, version)
    # when rendered for the pull request,
    text = markdown(result)
    # then the comment says FAILED and has the model's row with its approval status.
    assert "Provenance of `staging`: FAILED" in text, text
    assert f"| `{registry.group}` v{version} | PendingManualApproval | passed | valid |" in text, (
        text
    )
