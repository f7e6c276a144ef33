"""`verify_stack`: every model a stack declares, through the provenance check, on moto."""

from __future__ import annotations

from pathlib import Path

from ml.provenance.check import kms_verifier
from ml.release.stackfile import plan_edit
from ml.release.verify import markdown, verify_stack
from tests.ml.provenance_support import aws_fixture  # noqa: F401 - fixture
from tests.ml.release_support import (
    DIGEST,
    IMAGE,
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


RELEASE_ROLE_AGAIN = (
    "arn:aws:sts::123456789012:assumed-role/mlops-staging-gh-release/GitHubActions-approve-99"
)
"""The release role (which signed and registered) in another job's session."""


def test_verify_refuses_approval_by_the_registering_role_in_another_session(
    aws, registry, stack_root
):
    # Given a version the release role registered, approved by that same role from
    # another job (a new session name), bypassing `mlops approve`,
    version = registry.publish(approved=False)
    registry.approve_bypassing_mlops(version, RELEASE_ROLE_AGAIN)
    # when the stack is verified,
    result = _verify(aws, registry, stack_root, version)
    # then separation of duties fails, naming the role behind both sessions.
    assert not result.ok, "a self-approved version must not pass"
    assert result.failures[0].failed == ("separation",), result.failures[0].reason
    assert (
        "separation of duties: approved by "
        "arn:aws:iam::123456789012:role/mlops-staging-gh-release" in result.summary()
    ), result.summary()


def test_verify_passes_approval_by_another_role(aws, registry, stack_root):
    # Given a version approved by the approver role, not the release role,
    version = registry.publish(approved=False)
    registry.approve_bypassing_mlops(
        version, "arn:aws:sts::123456789012:assumed-role/mlops-staging-gh-approve/x"
    )
    # when verified, then it passes.
    result = _verify(aws, registry, stack_root, version)
    assert result.ok, result.summary()


def test_verify_refuses_approval_without_a_recorded_approver(aws, registry, stack_root):
    # Given a version approved by a bare UpdateModelPackage that records nobody,
    version = registry.publish(approved=False)
    registry.approve_bypassing_mlops(version, None)
    # when verified, then it fails: separation of duties cannot be shown.
    result = _verify(aws, registry, stack_root, version)
    assert "no approver recorded (approved_by)" in result.summary(), result.summary()


def test_verify_refuses_a_package_whose_statement_was_signed_for_another_version(
    aws, registry, stack_root
):
    # Given version 1 holds an artifact whose signed statement is for version 4 (an
    # artifact signed for another release, registered by a caller bypassing `register`),
    version = registry.publish(version=4)
    # when verified, then the binding check fails.
    result = _verify(aws, registry, stack_root, version)
    assert result.failures and result.failures[0].failed == ("binding",), result.summary()
    assert "binding: signed for version 4, not 1" in result.summary(), result.summary()


def _verify_registry_only(aws, registry: Registry, root: Path, version: int, bucket: str):
    plan_edit(root / f"Pulumi.{STACK}.yaml", {MODEL: version}).write()
    return verify_stack(
        stack_config(root, STACK),
        sagemaker=aws.sagemaker,
        s3=None,  # a metadata-only role: any download would fail the test
        verifier=None,
        registry_only=True,
        artifact_bucket=bucket,
    )


def test_registry_only_verify_passes_without_downloading(aws, registry, stack_root):
    version = registry.publish()
    result = _verify_registry_only(aws, registry, stack_root, version, registry.bucket)
    assert result.ok, result.summary()
    assert "artifact and signature not checked" in result.summary(), result.summary()


def test_registry_only_verify_refuses_model_data_outside_the_release_prefix(
    aws, registry, stack_root
):
    # Given a package whose model data the stack's bucket does not hold under models/
    version = registry.publish()
    # when checked against another bucket (e.g. a package pointing at a training output)
    result = _verify_registry_only(aws, registry, stack_root, version, "mlops-staging-other")
    # then the model-data check fails, naming the expected prefix.
    assert result.failures[0].failed == ("model-data",), result.summary()
    assert "is not under s3://mlops-staging-other/models/" in result.summary(), result.summary()


def test_registry_only_verify_refuses_self_approval(aws, registry, stack_root):
    version = registry.publish(approved=False)
    registry.approve_bypassing_mlops(version, RELEASE_ROLE_AGAIN)
    result = _verify_registry_only(aws, registry, stack_root, version, registry.bucket)
    assert result.failures[0].failed == ("separation",), result.summary()


def test_verify_stack_checks_the_version_kept_for_rollback_too(aws, registry, stack_root):
    # Given a release of an approved v2 whose previousVersion names a v1 still pending,
    pending = registry.publish(approved=False)
    released = registry.publish()
    plan_edit(stack_root / f"Pulumi.{STACK}.yaml", {MODEL: pending}).write()
    # (the release PR records the version it replaces)
    plan_edit(stack_root / f"Pulumi.{STACK}.yaml", {MODEL: released}, keep_previous=True).write()
    verifier = kms_verifier(aws.kms, f"alias/mlops-{STACK}-signing")
    # when the stack is verified,
    result = verify_stack(
        stack_config(stack_root, STACK), sagemaker=aws.sagemaker, s3=aws.s3, verifier=verifier
    )
    # then both versions were checked and the kept one fails: pulumi up would build a
    # SageMaker Model of it, so it must be as trustworthy as the served one.
    checked = [c.version for c in result.checks]
    assert checked == [released, pending], checked
    assert not result.ok and "PendingManualApproval" in result.summary(), result.summary()


# ---- the image: SageMaker serves the package's, so it must be the stack file's digest ----


def test_verify_refuses_a_package_registered_with_another_image(aws, registry, stack_root):
    # Given a package registered with an image by tag (or another digest) than the stack's
    other = IMAGE.rsplit("@", 1)[0] + ":latest-release"
    version = registry.publish(image=other)
    # when the stack (mlops:image.digest = the shipped digest) is verified,
    result = _verify(aws, registry, stack_root, version)
    # then it fails, saying which image the package runs and which the stack file names
    assert not result.ok, result.summary()
    (check,) = result.checks
    assert "image" in check.failed, check
    assert check.reason == (
        f"image: the package runs {other}, not mlops:image.digest {DIGEST}; register with "
        f"<repositoryUrl>@{DIGEST}, or set the digest the package has"
    ), check.reason


def test_registry_only_verify_also_refuses_another_image(aws, registry, stack_root):
    # The pull request's plan job (metadata only) catches it too
    version = registry.publish(image=IMAGE.replace("0" * 64, "1" * 64))
    plan_edit(stack_root / f"Pulumi.{STACK}.yaml", {MODEL: version}).write()
    result = verify_stack(stack_config(stack_root, STACK), sagemaker=aws.sagemaker, s3=aws.s3,
                          verifier=None, registry_only=True)  # fmt: skip
    assert not result.ok and "image" in result.checks[0].failed, result.summary()


def test_verify_of_a_stack_naming_its_image_by_tag_does_not_compare_images(
    aws, registry, stack_root
):
    # Given staging's stack file names its image by tag (allowed outside prod)
    path = stack_root / f"Pulumi.{STACK}.yaml"
    path.write_text(path.read_text().replace(f"digest: {DIGEST}", "tag: my-branch"))
    version = registry.publish(image=IMAGE.rsplit("@", 1)[0] + ":my-branch")
    # then only the provenance checks decide
    assert _verify(aws, registry, stack_root, version).ok
