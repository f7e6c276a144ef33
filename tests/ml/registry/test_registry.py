"""Registering, approving and checking model packages, against moto's SageMaker."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.graph import Graph
from ml.artifacts import S3Object, parse_s3_uri, upload_file
from ml.emulator import EmulatedStack, bootstrap_stack
from ml.provenance.check import kms_verifier
from ml.registry import (
    APPROVED,
    PENDING,
    REJECTED,
    PackageNotFound,
    approve,
    find_package,
)
from ml.registry.check import check_model_package
from ml.tracking.runs import TrackingLink
from ml.training.record import TrainingRecord
from tests.conftest import Cli, CliResult
from tests.ml.provenance_support import (  # noqa: F401 - fixtures
    APPROVER,
    COMMIT,
    DATA_HASH,
    Aws,
    act_as,
    aws_fixture,
    sign_directory,
    write_artifact,
)

GROUP = "mlops-dev-churn-classifier"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-dev-model-server:1.0.0"
DEV_V1 = {"stack": "dev", "model_package_group": GROUP, "version": 1}
"""The statement of the first churn-classifier package in dev."""
MOTO_CALLER = "arn:aws:sts::123456789012:user/moto"
"""Who moto says the caller is with its default test credentials."""


@pytest.fixture
def stack(
    aws: Aws, graph_of: Callable[[str], Graph], monkeypatch: pytest.MonkeyPatch
) -> EmulatedStack:
    """The dev stack in moto, and the environment CI would set from its outputs."""
    stack = bootstrap_stack(graph_of("dev"), kms=aws.kms, s3=aws.s3, sagemaker=aws.sagemaker)
    monkeypatch.setenv("MLOPS_ARTIFACT_BUCKET", stack.artifact_bucket)
    monkeypatch.setenv("MLOPS_DATA_KEY_ID", stack.data_key_alias)
    monkeypatch.setenv("MLOPS_SIGNING_KEY_ID", stack.signing_key_alias)
    monkeypatch.setenv("MLOPS_INFERENCE_IMAGE", IMAGE)
    return stack


def register_cli(artifact: Path, cli: Cli, gates: bool | None = True) -> CliResult:
    argv = ["register", "--artifact", str(artifact), "--stack", "dev",
            "--training-minutes", "12.5", "--spot-savings-percent", "64"]  # fmt: skip
    if gates is not None:
        report = artifact.parent / "validation.json"
        report.write_text(json.dumps({"passed": gates, "gates": []}))
        argv += ["--validation-report", str(report)]
    return cli(*argv)


@pytest.fixture
def artifact(aws: Aws, stack: EmulatedStack, tmp_path: Path) -> Path:
    """A trained, signed artifact directory."""
    directory = write_artifact(tmp_path / "model")
    sign_directory(aws.kms, stack.signing_key_alias, directory, **DEV_V1)
    return directory


@pytest.fixture
def registered(artifact: Path, cli: Cli) -> int:
    """Version number of the artifact registered with `mlops register --stack dev`."""
    code, out, err = register_cli(artifact, cli)
    assert code == 0, err
    return int(out.split(" version ")[1].split()[0])


def test_register_creates_pending_package_with_provenance_metadata(
    aws: Aws, stack: EmulatedStack, registered: int
) -> None:
    # given an artifact registered with `mlops register`, when the package is read back
    package = find_package(aws.sagemaker, GROUP, registered)
    # then it waits for a human, points at the image and model data, and tells its story
    assert package.approval_status == PENDING, package.approval_status
    assert package.image_uri == IMAGE, package.image_uri
    assert package.model_data_url is not None, "no model data URL"
    assert package.model_data_url.endswith("/model.tar.gz"), package.model_data_url
    expected = {
        "training_data_hash": DATA_HASH,
        "git_commit": COMMIT,
        "metric.roc_auc": "0.91",
        "training_minutes": "12.5",
        "spot_savings_percent": "64",
        "owner": "ml-platform",
        "signing_key_arn": stack.signing_key_arn,
        "validation_gates": "passed",
    }
    assert {k: package.metadata.get(k) for k in expected} == expected, package.metadata
    assert package.signature_s3_uri is not None, "no signature location"
    assert package.signature_s3_uri.startswith(f"s3://{stack.artifact_bucket}/"), "not in bucket"


def test_register_same_artifact_twice_returns_the_existing_package(
    aws: Aws, artifact: Path, registered: int, cli: Cli
) -> None:
    # given an artifact already registered, when it is registered again
    code, out, err = register_cli(artifact, cli)
    # then no second package is created
    assert code == 0, err
    assert f"already registered: {GROUP} version {registered}" in out, out
    packages = aws.sagemaker.list_model_packages(ModelPackageGroupName=GROUP)
    assert len(packages["ModelPackageSummaryList"]) == 1, "a duplicate package was created"


def test_register_refuses_a_tampered_artifact(
    artifact: Path, stack: EmulatedStack, cli: Cli
) -> None:
    # given a signed artifact changed after signing
    (artifact / "model.txt").write_text("different model\n")
    # when registered, then it is refused with the failed check, exit 1
    code, _, err = register_cli(artifact, cli)
    assert code == 1, f"exit {code}"
    assert err.startswith("error: refusing to register: file model.txt: content changed"), err


def test_approve_records_reason_and_keeps_metadata(aws: Aws, registered: int) -> None:
    # given a pending package, when approved with a reason
    package = approve(
        aws.sagemaker, GROUP, registered, "AUC +0.02, drift within bounds", approved_by=APPROVER
    )
    # then the status and reason are recorded and the provenance metadata survives
    assert package.approval_status == APPROVED, package.approval_status
    assert package.approval_description == "AUC +0.02, drift within bounds", "reason lost"
    assert package.metadata.get("git_commit") == COMMIT, "approval wiped the metadata"


def test_reject_cli_records_reason(aws: Aws, registered: int, cli: Cli) -> None:
    # given a pending package, when rejected with `mlops reject`
    argv = ["reject", "--stack", "dev", "--version", str(registered), "--reason", "leaks labels"]
    code, _, err = cli(*argv)
    # then it is rejected with the reason
    assert code == 0, err
    package = find_package(aws.sagemaker, GROUP, registered)
    assert (package.approval_status, package.approval_description) == (REJECTED, "leaks labels")


def test_approve_missing_version_exits_2_with_one_line(stack: EmulatedStack, cli: Cli) -> None:
    # given a group without version 7, when approving it
    code, _, err = cli("approve", "--group", GROUP, "--version", "7", "--reason", "ok")
    # then the error names the group and version on one line
    assert code == 2, f"exit {code}"
    assert err == f"error: model package group {GROUP} has no version 7\n", err


def test_find_package_in_missing_group_is_package_not_found(aws: Aws, stack: EmulatedStack) -> None:
    # given a group that does not exist, when a version is looked up, then it is not found
    with pytest.raises(PackageNotFound, match="model package group mlops-dev-nope not found"):
        find_package(aws.sagemaker, "mlops-dev-nope", 1)


def test_check_approved_package_with_passed_gates_is_ok(
    aws: Aws, stack: EmulatedStack, registered: int
) -> None:
    # given a registered package approved by a human
    approve(aws.sagemaker, GROUP, registered, "looks good", approved_by=APPROVER)
    # when checked the way release and serving check it (artifact fetched from S3)
    verifier = kms_verifier(aws.kms, stack.signing_key_alias)
    result = check_model_package(aws.sagemaker, aws.s3, verifier, group=GROUP, version=registered)
    # then all checks pass and the signed provenance is at hand
    assert result.ok, result.reason
    assert result.signature is not None and result.signature.provenance is not None, "no provenance"


def test_check_pending_package_fails_approval(
    aws: Aws, stack: EmulatedStack, registered: int
) -> None:
    # given a package nobody approved, when checked
    verifier = kms_verifier(aws.kms, stack.signing_key_alias)
    result = check_model_package(aws.sagemaker, aws.s3, verifier, group=GROUP, version=registered)
    # then the approval check fails, and only it
    assert result.failed == ("approval",), result.reason
    assert "status is PendingManualApproval, not Approved" in result.reason, result.reason


def test_check_package_with_failed_gates_fails(
    aws: Aws, stack: EmulatedStack, artifact: Path, cli: Cli
) -> None:
    # given a package whose validation gates failed, approved anyway
    code, out, err = register_cli(artifact, cli, gates=False)
    assert code == 0, err
    version = int(out.split(" version ")[1].split()[0])
    approve(aws.sagemaker, GROUP, version, "overridden", approved_by=APPROVER)
    # when checked, then the gates check fails
    verifier = kms_verifier(aws.kms, stack.signing_key_alias)
    result = check_model_package(aws.sagemaker, aws.s3, verifier, group=GROUP, version=version)
    assert result.failed == ("gates",), result.reason


def test_check_package_whose_model_data_was_replaced_fails_signature(
    aws: Aws, stack: EmulatedStack, registered: int, tmp_path: Path
) -> None:
    # given an approved package whose model.tar.gz in S3 was overwritten by another model
    approve(aws.sagemaker, GROUP, registered, "looks good", approved_by=APPROVER)
    package = find_package(aws.sagemaker, GROUP, registered)
    assert package.model_data_url is not None
    impostor = write_artifact(tmp_path / "impostor")
    (impostor / "model.txt").write_text("another model\n")
    from ml.provenance.archive import pack_artifact

    tarball = pack_artifact(impostor, None, tmp_path / "impostor.tar.gz")
    upload_file(aws.s3, tarball, parse_s3_uri(package.model_data_url), stack.data_key_arn)
    # when checked
    verifier = kms_verifier(aws.kms, stack.signing_key_alias)
    result = check_model_package(aws.sagemaker, aws.s3, verifier, group=GROUP, version=registered)
    # then the signature check fails, naming the file
    assert result.failed == ("signature",), result.reason
    assert "file model.txt: content changed" in result.reason, result.reason


def test_check_missing_package_fails_without_raising(aws: Aws, stack: EmulatedStack) -> None:
    # given no version 9, when checked, then a structured failure names it
    verifier = kms_verifier(aws.kms, stack.signing_key_alias)
    result = check_model_package(aws.sagemaker, aws.s3, verifier, group=GROUP, version=9)
    assert (result.ok, result.failed) == (False, ("package",)), result.reason
    assert result.reason == f"model package group {GROUP} has no version 9", result.reason


def test_check_local_artifact_and_signature_instead_of_s3(
    aws: Aws, stack: EmulatedStack, artifact: Path, registered: int
) -> None:
    # given an approved package and the same artifact on disk
    approve(aws.sagemaker, GROUP, registered, "looks good", approved_by=APPROVER)
    # when checked against the local copy
    verifier = kms_verifier(aws.kms, stack.signing_key_alias)
    envelope = artifact / "signature.dsse.json"
    result = check_model_package(
        aws.sagemaker, aws.s3, verifier, group=GROUP, version=registered,
        artifact=artifact, envelope=envelope,
    )  # fmt: skip
    # then it passes: the local artifact is the registered one
    assert result.ok, result.reason


def test_register_without_group_or_stack_exits_2(artifact: Path, cli: Cli) -> None:
    # given neither --group nor --stack, when registering, then it asks which group
    code, _, err = cli("register", "--artifact", artifact)
    assert code == 2 and "pass --group or --stack" in err, err


def test_upload_location_is_content_addressed(
    aws: Aws, stack: EmulatedStack, registered: int
) -> None:
    # given a registered package, then its files live under the artifact digest
    package = find_package(aws.sagemaker, GROUP, registered)
    digest = package.artifact_digest
    assert digest and package.model_data_url == (
        f"s3://{stack.artifact_bucket}/models/{GROUP}/{digest}/model.tar.gz"
    ), package.model_data_url
    assert S3Object(stack.artifact_bucket, "k").uri == f"s3://{stack.artifact_bucket}/k"


def test_register_records_the_registering_identity(aws: Aws, registered: int) -> None:
    # given an artifact registered with `mlops register` (moto's default caller)
    package = find_package(aws.sagemaker, GROUP, registered)
    # then the package says who registered it and who signed it
    assert package.registered_by == MOTO_CALLER, package.metadata
    assert package.signed_by == (
        "arn:aws:sts::123456789012:assumed-role/mlops-staging-gh-release/GitHubActions-sign-41"
    ), package.metadata


@pytest.mark.parametrize(
    ("signed_for", "fragment"),
    [
        ({"model": "fraud-detector"}, "signed for model 'fraud-detector', not 'churn-classifier'"),
        (
            {"stack": "prod", "model_package_group": "mlops-prod-churn-classifier"},
            "signed for stack 'prod', not 'dev'",
        ),
        (
            {"model_package_group": "mlops-staging-churn-classifier"},
            "signed for modelPackageGroup 'mlops-staging-churn-classifier', not "
            "'mlops-dev-churn-classifier'",
        ),
        (
            {"version": 2},
            "the registry will assign version 1 but the statement was signed for version 2; "
            "re-sign with `mlops sign --version 1`",
        ),
        (
            {"model": None, "stack": None, "model_package_group": None, "version": None},
            "the signed statement names no model, stack, modelPackageGroup, version",
        ),
    ],
    ids=["another-model", "another-stack", "another-group", "another-version", "unbound"],
)
def test_register_refuses_a_statement_signed_for_another_release(
    aws: Aws,
    stack: EmulatedStack,
    tmp_path: Path,
    cli: Cli,
    signed_for: dict[str, object],
    fragment: str,
) -> None:
    # given an artifact validly signed, but for another model, stack, group or version
    # than `register --stack dev` targets (or by an old release that named none)
    directory = write_artifact(tmp_path / "model")
    sign_directory(aws.kms, stack.signing_key_alias, directory, **{**DEV_V1, **signed_for})
    # when registered
    code, _, err = register_cli(directory, cli)
    # then it is refused on one line, exit 1, and nothing is registered
    assert code == 1 and fragment in err and err.count("\n") == 1, err
    listed = aws.sagemaker.list_model_packages(ModelPackageGroupName=GROUP)
    assert listed["ModelPackageSummaryList"] == [], "a refused artifact must not be registered"


def test_approve_cli_by_the_registering_identity_is_refused(
    aws: Aws, registered: int, cli: Cli
) -> None:
    # given a package registered by moto's default caller, when that caller approves it
    argv = ["approve", "--stack", "dev", "--version", str(registered), "--reason", "mine"]
    code, _, err = cli(*argv)
    # then it is refused on one line and stays pending
    assert code == 1 and "separation of duties" in err and err.count("\n") == 1, err
    package = find_package(aws.sagemaker, GROUP, registered)
    assert package.approval_status == PENDING, package.approval_status


def test_approve_cli_by_the_release_role_in_a_new_session_is_refused(
    aws: Aws,
    artifact: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    # given a package registered by the release role in one job's session
    act_as(aws, monkeypatch, "mlops-dev-gh-release", "GitHubActions-register-1")
    code, _, err = register_cli(artifact, cli)
    assert code == 0, err
    # when the same role, in another session, approves it
    act_as(aws, monkeypatch, "mlops-dev-gh-release", "GitHubActions-approve-2")
    argv = ["approve", "--stack", "dev", "--version", "1", "--reason", "looks fine"]
    code, _, err = cli(*argv)
    # then the session name does not make it another identity
    assert code == 1, err
    assert "approved by arn:aws:iam::123456789012:role/mlops-dev-gh-release" in err, err


def test_approve_cli_by_another_role_records_approved_by_and_reason(
    aws: Aws,
    registered: int,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    # given a package registered by moto's default caller
    # when the approver role approves it with `mlops approve`
    act_as(aws, monkeypatch, "mlops-dev-gh-approve", "GitHubActions-approve-9")
    argv = ["approve", "--stack", "dev", "--version", str(registered), "--reason", "AUC +0.02"]
    code, _, err = cli(*argv)
    # then the approval, its reason and the approver's identity are recorded
    assert code == 0, err
    package = find_package(aws.sagemaker, GROUP, registered)
    assert (package.approval_status, package.approval_description) == (APPROVED, "AUC +0.02")
    assert package.approved_by == (
        "arn:aws:sts::123456789012:assumed-role/mlops-dev-gh-approve/GitHubActions-approve-9"
    ), package.metadata
    assert package.registered_by == MOTO_CALLER, "approval must keep registered_by"


def test_register_with_github_output_hands_the_version_to_the_approval_job(
    artifact: Path,
    cli: Cli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given GitHub Actions' output file, when the signing job registers with --github-output
    outputs = tmp_path / "github-output"
    outputs.write_text("earlier=1\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    argv = ["register", "--artifact", str(artifact), "--stack", "dev", "--github-output"]
    code, _, err = cli(*argv)
    # then the stack's version is appended under a key of its own (matrix legs share outputs)
    assert code == 0, err
    assert outputs.read_text() == "earlier=1\nversion-dev=1\n", outputs.read_text()


TRACKING_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/mlops-dev"


def test_register_records_training_billable_time_and_savings_from_the_training_record(
    aws: Aws, artifact: Path, cli: Cli
) -> None:
    # given the training.json of a spot job that trained 600 s and was billed 180 s
    record = TrainingRecord(
        mode="sagemaker", model="churn-classifier", status="Completed", job_name="job-1",
        artifact="s3://a/training-output/main/churn-classifier/job-1/output/model.tar.gz",
        checkpoint_uri="s3://a/checkpoints/main/churn-classifier/run/", params_hash="sha256:0",
        managed_spot=True, training_time_seconds=600, billable_time_seconds=180,
        spot_savings_percent=70.0,
        tracking=TrackingLink(tracking_uri=TRACKING_ARN, experiment_id="3", run_id="5f0c1e2d"),
    )  # fmt: skip
    path = record.write(artifact.parent)
    # when `mlops register` is given it, as model-build.yml does
    argv = [
        "register",
        "--artifact",
        str(artifact),
        "--stack",
        "dev",
        "--training-record",
        str(path),
    ]
    code, out, err = cli(*argv)
    # then the package records the job's times in minutes and its savings
    assert code == 0, err
    version = int(out.split(" version ")[1].split()[0])
    metadata = find_package(aws.sagemaker, GROUP, version).metadata
    recorded = {
        k: metadata.get(k) for k in ("training_minutes", "billable_minutes", "spot_savings_percent")
    }
    assert recorded == {
        "training_minutes": "10",
        "billable_minutes": "3",
        "spot_savings_percent": "70",
    }, metadata
    # and names the MLflow run of the training
    assert metadata.get("tracking_run_id") == "5f0c1e2d", metadata
    assert metadata.get("tracking_uri") == TRACKING_ARN, metadata
