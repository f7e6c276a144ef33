"""The release's services called directly, as the demo calls them: each failing check is
the project's error type (`MlopsError`, a `CheckFailed` where the check ran) with one line.

The CLI over the same functions is tests/ml/release/test_release_cli.py; here nothing parses
options, so a check that only the command made would be missed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import CheckFailed, MlopsError
from ml.release.lock import ReleaseInProgress
from ml.release.prepare import prepare_release
from ml.release.service import (
    propose_revert,
    stack_verifier,
    verify_release,
    watch_release,
)
from ml.release.stackfile import plan_edit
from ml.release.verify import StackVerification
from tests.ml.provenance_support import SIGNER, aws_fixture  # noqa: F401 - fixture
from tests.ml.release_support import (
    MODEL,
    FakeClock,
    ScriptedEndpoint,
    clock_fixture,  # noqa: F401 - fixture
    endpoint_response,
    registry_fixture,  # noqa: F401 - fixture
    serve,
    stack_config,
    stack_root_fixture,  # noqa: F401 - fixture
)

STACK = "staging"


def _declare(root: Path, version: int) -> None:
    """The merged release PR: the stack file declares `version`."""
    plan_edit(root / f"Pulumi.{STACK}.yaml", {MODEL: version}).write()


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert text and "\n" not in text, f"one line expected: {text!r}"
    return text


def test_verify_release_of_a_self_approved_version_fails_on_separation_of_duties(
    aws, registry, stack_root, tmp_path
):
    # Given the stack declares a version its registrar (the signer) approved itself,
    version = registry.publish(approved=False)
    registry.approve_bypassing_mlops(version, SIGNER)
    _declare(stack_root, version)
    cfg = stack_config(stack_root, STACK)
    report = tmp_path / "verify.md"
    # when the deploy job's verify runs,
    with pytest.raises(CheckFailed) as failed:
        verify_release(
            cfg,
            sagemaker=aws.sagemaker,
            s3=aws.s3,
            verifier=stack_verifier(cfg, lambda: aws.kms),
            report=report,
        )
    # then it fails (exit 1) in one line, carrying the result, and the report says FAILED.
    assert failed.value.exit_code == 1, failed.value.exit_code
    assert "separation of duties" in _one_line(failed.value), failed.value
    assert isinstance(failed.value.result, StackVerification), failed.value.result
    assert not failed.value.result.ok, "the carried result is the failed verification"
    assert "FAILED" in report.read_text(encoding="utf-8"), "written before the failure"


def test_verify_release_of_a_version_the_registry_lacks_exits_2(aws, registry, stack_root):
    # Given the stack file declares v7 of a group that holds one version,
    registry.publish()
    _declare(stack_root, 7)
    cfg = stack_config(stack_root, STACK)
    # when verified, then it is bad input (exit 2): the stack file names nothing that exists.
    with pytest.raises(CheckFailed) as failed:
        verify_release(
            cfg, sagemaker=aws.sagemaker, s3=aws.s3, verifier=stack_verifier(cfg, lambda: aws.kms)
        )
    assert failed.value.exit_code == 2, failed.value.exit_code
    expected = "stack staging: 1 of 1 failed: model package group mlops-staging-churn-classifier "
    assert _one_line(failed.value).startswith(expected + "has no version 7"), failed.value


def test_verify_release_require_idle_refuses_while_an_endpoint_rolls_back(
    aws, registry, stack_root
):
    # Given an approved, signed version, but the endpoint is still rolling back a release,
    registry.publish()
    old, new = serve(aws.sagemaker, STACK, 1), serve(aws.sagemaker, STACK, 2)
    sagemaker = ScriptedEndpoint(
        aws.sagemaker, [endpoint_response(STACK, "RollingBack", old, pending=new)]
    )
    cfg = stack_config(stack_root, STACK)
    # when the deploy job's verify runs before pulumi up, then it refuses in one line.
    with pytest.raises(ReleaseInProgress) as refused:
        verify_release(
            cfg,
            sagemaker=sagemaker,
            s3=aws.s3,
            verifier=stack_verifier(cfg, lambda: aws.kms),
            require_idle=True,
        )
    expected = "a release is in progress: endpoint mlops-staging-churn-classifier is RollingBack"
    assert expected in _one_line(refused.value), refused.value


def test_verify_release_registry_only_without_the_bucket_is_bad_input(stack_root):
    cfg = stack_config(stack_root, STACK)
    with pytest.raises(MlopsError) as refused:
        verify_release(cfg, sagemaker=None, s3=None, verifier=None, registry_only=True)
    assert refused.value.exit_code == 2, refused.value.exit_code
    assert "--registry-only needs --artifact-bucket" in _one_line(refused.value), refused.value


def test_prepare_release_of_a_pending_version_fails_and_plans_no_edit(aws, registry, stack_root):
    # Given version 2 is registered but nobody approved it,
    registry.publish()
    version = registry.publish(approved=False)
    cfg = stack_config(stack_root, STACK)
    before = (stack_root / f"Pulumi.{STACK}.yaml").read_text(encoding="utf-8")
    # when the release edit is prepared, then it fails (exit 1) in one line naming the approval.
    with pytest.raises(MlopsError) as failed:
        prepare_release(
            cfg,
            stack_root / f"Pulumi.{STACK}.yaml",
            model=MODEL,
            version=version,
            sagemaker=aws.sagemaker,
            s3=aws.s3,
            verifier=stack_verifier(cfg, lambda: aws.kms),
            source=None,
        )
    assert failed.value.exit_code == 1, failed.value.exit_code
    assert _one_line(failed.value).startswith("cannot release to staging: "), failed.value
    assert "approval" in str(failed.value), failed.value
    after = (stack_root / f"Pulumi.{STACK}.yaml").read_text(encoding="utf-8")
    assert after == before, "nothing is written"


def test_watch_release_after_a_rollback_fails_with_the_revert_to_what_serves(
    aws, stack_root, clock: FakeClock
):
    # Given v2 released (v1 kept) and SageMaker rolled it back to v1 on an alarm,
    old, new = serve(aws.sagemaker, STACK, 1), serve(aws.sagemaker, STACK, 2)
    plan_edit(stack_root / f"Pulumi.{STACK}.yaml", {MODEL: 2}, keep_previous=True).write()
    sagemaker = ScriptedEndpoint(
        aws.sagemaker,
        [
            endpoint_response(STACK, "RollingBack", old, pending=new),
            endpoint_response(STACK, "InService", old, reason="alarm model-errors"),
        ],
    )
    # when the deploy job watches,
    with pytest.raises(CheckFailed) as failed:
        watch_release(
            stack_config(stack_root, STACK),
            stack_root / f"Pulumi.{STACK}.yaml",
            sagemaker=sagemaker,
            poll_seconds=30,
            clock=clock,
            sleep=clock.sleep,
        )
    # then it fails (exit 1) in one line naming the revert, and carries the revert edit.
    line = _one_line(failed.value)
    assert failed.value.exit_code == 1, failed.value.exit_code
    assert line.startswith("stack staging: rollback: "), line
    assert "--to churn-classifier=1 --open-pr" in line, line
    proposal = failed.value.result.revert
    assert proposal is not None, "a rollback proposes the revert"
    assert [str(c) for c in proposal.edit.changes] == ["churn-classifier: v2 -> v1"], proposal
    assert "previousVersion" not in proposal.edit.after, "the revert drops the kept version"


def test_propose_revert_to_a_model_the_stack_does_not_declare_is_refused(stack_root):
    # Given the staging stack, when a revert names a model it does not serve (a typo, or an
    # attempt to write another model's version into the file without a provenance check),
    cfg = stack_config(stack_root, STACK)
    with pytest.raises(MlopsError) as refused:
        propose_revert(cfg, stack_root / f"Pulumi.{STACK}.yaml", {"fraud-detector": 1})
    # then it is bad input, one line naming the model and what is declared.
    assert refused.value.exit_code == 2, refused.value.exit_code
    line = _one_line(refused.value)
    assert "declares no model 'fraud-detector'" in line and "churn-classifier" in line, line


def test_propose_revert_to_the_declared_version_changes_nothing(stack_root):
    cfg = stack_config(stack_root, STACK)
    declared = cfg.models[MODEL].version
    proposal = propose_revert(cfg, stack_root / f"Pulumi.{STACK}.yaml", {MODEL: declared})
    assert not proposal.edit.changed, proposal.edit.diff()
