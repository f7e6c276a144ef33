"""`mlops release` end to end on moto: the edit, verify, watch, and their one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ml import aws as ml_aws
from ml.release.stackfile import plan_edit
from tests.ml.provenance_support import SIGNER, aws_fixture  # noqa: F401 - fixture
from tests.ml.release_support import (
    MODEL,
    ScriptedEndpoint,
    endpoint_response,
    registry_fixture,  # noqa: F401 - fixture
    serve,
    stack_root_fixture,  # noqa: F401 - fixture
)

STACK = "staging"


def _script_describe_endpoint(monkeypatch: pytest.MonkeyPatch, responses: list[dict]) -> None:
    """Every SageMaker client the CLI makes answers DescribeEndpoint from `responses`."""
    real = ml_aws.client

    def client(service: str, session: Any = None) -> Any:
        made = real(service, session)
        return ScriptedEndpoint(made, responses) if service == "sagemaker" else made

    monkeypatch.setattr(ml_aws, "client", client)


def test_release_of_approved_version_edits_the_version_and_keeps_the_previous(
    aws, registry, stack_root, cli
):
    # Given version 2 of the staging model is registered, approved, gated and signed,
    registry.publish()
    version = registry.publish()
    stack_file = stack_root / f"Pulumi.{STACK}.yaml"
    before = stack_file.read_text(encoding="utf-8")
    # when the release manager releases it,
    code, out, err = cli(
        "release", "--stack", STACK, "--model", MODEL, "--version", version, "--root", stack_root
    )  # fmt: skip
    # then the version line changed and v1 is recorded as the version a rollback lands on
    # (kept by the serving component); nothing else changed, and the diff was shown.
    assert code == 0, err
    expected = before.replace(
        "      version: 1\n", f"      version: {version}\n      previousVersion: 1\n"
    )
    assert stack_file.read_text() == expected, stack_file.read_text()
    assert f"+      version: {version}\n+      previousVersion: 1" in out, out


def test_release_of_pending_version_fails_and_leaves_the_stack_file(aws, registry, stack_root, cli):
    # Given version 2 is registered but not approved,
    registry.publish()
    version = registry.publish(approved=False)
    stack_file = stack_root / f"Pulumi.{STACK}.yaml"
    before = stack_file.read_text(encoding="utf-8")
    # when someone tries to release it,
    code, _, err = cli(
        "release", "--stack", STACK, "--model", MODEL, "--version", version, "--root", stack_root
    )  # fmt: skip
    # then it fails (exit 1) with one line naming the approval, and the file is untouched.
    assert code == 1, err
    assert err.startswith("error: cannot release to staging: ") and "approval" in err, err
    assert err.count("\n") == 1, f"one line expected: {err!r}"
    assert stack_file.read_text(encoding="utf-8") == before, "the file must not change"


def test_release_while_another_release_is_in_progress_is_refused(
    aws, registry, stack_root, cli, monkeypatch
):
    # Given an approved version 2, but the staging endpoint is still rolling out a release,
    registry.publish()
    version = registry.publish()
    old, new = serve(aws.sagemaker, STACK, 1), serve(aws.sagemaker, STACK, 9)
    _script_describe_endpoint(monkeypatch, [endpoint_response(STACK, "Updating", old, pending=new)])
    # when the release manager releases version 2,
    code, _, err = cli(
        "release", "--stack", STACK, "--model", MODEL, "--version", version, "--root", stack_root
    )  # fmt: skip
    # then it is refused with one line saying a release is in progress.
    assert code == 2, err
    expected = "a release is in progress: endpoint mlops-staging-churn-classifier is Updating"
    assert expected in err, err


def test_release_of_another_stacks_group_is_refused_before_any_aws_call(stack_root, cli):
    # Given the staging stack, when the release names prod's package group,
    code, _, err = cli(
        "release", "--stack", STACK, "--model", "mlops-prod-churn-classifier", "--version", "2",
        "--root", stack_root,
    )  # fmt: skip
    # then it is refused as bad input.
    assert code == 2, err
    assert "does not belong to stack staging" in err, err


def test_release_verify_of_pending_version_exits_1_and_writes_the_pr_comment(
    aws, registry, stack_root, cli, tmp_path
):
    # Given the stack file declares a version still pending approval,
    version = registry.publish(approved=False)
    plan_edit(stack_root / f"Pulumi.{STACK}.yaml", {MODEL: version}).write()
    report = tmp_path / "verify.md"
    # when the release PR's check runs,
    code, _, err = cli(
        "release", "verify", "--stack", STACK, "--root", stack_root, "--report", report
    )
    # then it fails with exit code 1 and the Markdown for the PR comment says why.
    assert code == 1, err
    assert "PendingManualApproval" in err, err
    assert "FAILED" in report.read_text(encoding="utf-8"), "the report must carry the verdict"


def test_release_watch_after_rollback_fails_and_hands_the_revert_to_the_next_job(
    aws, stack_root, cli, monkeypatch, tmp_path
):
    # Given the release of v2 merged, and SageMaker rolled it back to v1,
    old, new = serve(aws.sagemaker, STACK, 1), serve(aws.sagemaker, STACK, 2)
    plan_edit(stack_root / f"Pulumi.{STACK}.yaml", {MODEL: 2}).write()
    _script_describe_endpoint(
        monkeypatch,
        [
            endpoint_response(STACK, "RollingBack", old, pending=new),
            endpoint_response(STACK, "InService", old, reason="alarm model-errors"),
        ],
    )
    output = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    # when the deploy job watches,
    code, out, err = cli(
        "release", "watch", "--stack", STACK, "--root", stack_root, "--poll", "0",
        "--github-output",
    )  # fmt: skip
    # then it fails (exit 1), proposes the revert diff, and tells the revert job what to do.
    assert code == 1, err
    assert "rollback" in err and "--to churn-classifier=1" in err, err
    assert "-      version: 2\n+      version: 1" in out, out
    assert "gh pr create" in out, out
    written = output.read_text(encoding="utf-8")
    assert written == "outcome=rollback\nrevert=churn-classifier=1\n", written


def test_release_options_before_a_subcommand_are_refused(cli):
    # Given options placed before the subcommand, when run, then one line says where they go.
    code, _, err = cli("release", "--stack", STACK, "verify")
    assert code == 2, err
    assert "after the subcommand" in err, err


def test_release_revert_without_open_pr_writes_the_file_and_prints_the_commands(
    stack_root: Path, cli, monkeypatch
):
    # Given the stack file declares v2 after a rolled-back release (outside GitHub Actions),
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    plan_edit(stack_root / f"Pulumi.{STACK}.yaml", {MODEL: 2}).write()
    # when the release manager reverts locally,
    code, out, err = cli(
        "release", "revert", "--stack", STACK, "--to", f"{MODEL}=1", "--root", stack_root
    )
    # then the file says v1 again and the git/gh commands to open the PR are printed.
    assert code == 0, err
    assert "      version: 1\n" in (stack_root / f"Pulumi.{STACK}.yaml").read_text(), "reverted"
    assert "gh pr create --repo acme/mlops-gitops --base main" in out, out


def test_release_fetch_extracts_the_verified_model_the_stack_serves(
    aws, registry, stack_root, cli, tmp_path
):
    # Given the staging stack file serves version 1, registered, approved and signed,
    assert registry.publish() == 1, "the first package of the group is version 1"
    out = tmp_path / "production"
    # when the training workflow fetches the production baseline,
    code, _, err = cli("release", "fetch", "--stack", STACK, "--out", out, "--root", stack_root)
    # then the verified model is extracted, as SageMaker would extract it.
    assert code == 0, err
    extracted = {p.name for p in out.iterdir()}
    assert {"model.txt", "model.json", "signature.dsse.json"} <= extracted, extracted


def test_release_fetch_of_unapproved_version_extracts_nothing(
    aws, registry, stack_root, cli, tmp_path
):
    # Given version 1 is registered but pending approval,
    registry.publish(approved=False)
    out = tmp_path / "production"
    # when it is fetched, then it is refused (exit 1) and nothing is written.
    code, _, err = cli("release", "fetch", "--stack", STACK, "--out", out, "--root", stack_root)
    assert code == 1, err
    assert "not fetching" in err and not out.exists(), err


def test_release_verify_registry_only_of_self_approved_version_exits_1_with_one_line(
    aws, registry, stack_root, cli
):
    # Given a version approved by the identity that registered it (the release role's signer),
    version = registry.publish(approved=False)
    registry.approve_bypassing_mlops(version, SIGNER)
    plan_edit(stack_root / f"Pulumi.{STACK}.yaml", {MODEL: version}).write()
    # when the prod-style metadata-only check runs,
    argv = ["release", "verify", "--stack", STACK, "--root", str(stack_root),
            "--registry-only", "--artifact-bucket", registry.bucket]  # fmt: skip
    code, _, err = cli(*argv)
    # then it fails on one line naming separation of duties.
    assert code == 1 and "separation of duties" in err and err.count("\n") == 1, err


def test_release_verify_registry_only_without_the_bucket_exits_2(stack_root, cli, monkeypatch):
    monkeypatch.delenv("MLOPS_ARTIFACT_BUCKET", raising=False)
    argv = ["release", "verify", "--stack", STACK, "--root", str(stack_root), "--registry-only"]
    code, _, err = cli(*argv)
    assert code == 2 and "--registry-only needs --artifact-bucket" in err, err


def test_release_verify_help_says_what_registry_only_does_not_check(cli):
    code, out, _ = cli("release", "verify", "--help")
    text = " ".join(out.replace("│", " ").split())
    assert code == 0 and "does NOT check the signature" in text, text
