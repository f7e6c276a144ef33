"""The CLI's last line of defence: bad input and unanticipated AWS failures are one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli


def test_release_without_aws_credentials_prints_one_line_and_exits_2(
    repo_root: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    # Given: no credentials anywhere boto3 looks
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(repo_root / "no-such-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(repo_root / "no-such-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    argv = ["release", "--stack", "dev", "--model", "churn-classifier", "--version", "2"]
    # When: a command that must ask AWS runs
    code, _, err = cli(*argv, "--root", repo_root)
    # Then: one line that says what to do, exit 2, no traceback
    assert code == 2, f"exit code {code}: {err}"
    assert err.count("\n") == 1, f"expected exactly one line on stderr: {err!r}"
    assert "no AWS credentials found" in err and "Traceback" not in err, err


MISSING_PATHS = [
    (["validate", "--candidate", "{missing}"], "validate", "--candidate"),
    (["validate", "--candidate", ".", "--data", "{missing}"], "validate", "--data"),
    (["validate", "--candidate", ".", "--production", "{missing}"], "validate", "--production"),
    (["validate", "--candidate", ".", "--reference", "{missing}"], "validate", "--reference"),
    (["validate", "--candidate", ".", "--params", "{missing}"], "validate", "--params"),
    (["canary", "--production", "{missing}"], "canary", "--production"),
    (["canary", "--candidate", "{missing}"], "canary", "--candidate"),
    (["canary", "--traffic", "{missing}"], "canary", "--traffic"),
    (["canary", "--public-key", "{missing}"], "canary", "--public-key"),
    (["canary", "--root", "{missing}"], "canary", "--root"),
    (["audit", "--stack", "qa", "--waivers", "{missing}"], "audit", "--waivers"),
    (["audit", "--stack", "qa", "--root", "{missing}"], "audit", "--root"),
    (["demo", "--stack", "qa", "--root", "{missing}"], "demo", "--root"),
    (["drift", "--params", "{missing}"], "drift", "--params"),
    (
        ["github", "comment", "--pr", "1", "--body-file", "{missing}"],
        "github comment",
        "--body-file",
    ),
    (["github", "issue", "--body-file", "{missing}"], "github issue", "--body-file"),
]


@pytest.mark.parametrize(
    ("argv", "command", "option"), MISSING_PATHS, ids=[f"{c} {o}" for _, c, o in MISSING_PATHS]
)
def test_nonexistent_path_is_reported_first_as_such(
    argv: list[str],
    command: str,
    option: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    # Given a path that does not exist, among other mistakes (an unknown stack 'qa', a
    # missing required option) and defaults that need not exist in this directory
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "no" / "such.file"
    # When the command runs
    code, _, err = cli(*(a.replace("{missing}", str(missing)) for a in argv))
    # Then the one line says the path does not exist, and nothing else
    assert code == 2, f"exit code {code}: {err}"
    assert err == f"mlops {command}: {option} {missing}: no such file or directory\n", err


def test_nonexistent_path_from_environment_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    # Given the public key comes from the environment and does not exist
    missing = tmp_path / "signing.pem"
    monkeypatch.setenv("MLOPS_SIGNING_PUBLIC_KEY", str(missing))
    # When the canary runs
    code, _, err = cli("canary", "--stack", "dev", "--production", ".", "--candidate", ".")
    # Then the line says where the path came from
    assert code == 2, f"exit code {code}: {err}"
    expected = f"mlops canary: --public-key (from MLOPS_SIGNING_PUBLIC_KEY) {missing}: no such file"
    assert err.startswith(expected), err
