"""The CLI's last line of defence: an AWS failure no command anticipated is still one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.cli import main


def test_release_without_aws_credentials_prints_one_line_and_exits_2(
    repo_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
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
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--root", str(repo_root)])
    # Then: one line that says what to do, exit 2, no traceback
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, f"exit code {exit_info.value.code}: {err}"
    assert err.count("\n") == 1, f"expected exactly one line on stderr: {err!r}"
    assert "no AWS credentials found" in err and "Traceback" not in err, err
