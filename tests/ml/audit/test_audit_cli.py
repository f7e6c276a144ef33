"""`mlops audit` as an auditor runs it: one command, a report file, a meaningful exit code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml


@pytest.fixture
def root(tmp_path: Path, repo_root: Path) -> Path:
    """A checkout with the shipped stack files and waivers."""
    for stack in ("dev", "staging", "prod"):
        shutil.copy(repo_root / f"Pulumi.{stack}.yaml", tmp_path)
    (tmp_path / "policies").mkdir()
    shutil.copy(repo_root / "policies" / "waivers.yaml", tmp_path / "policies")
    return tmp_path


def test_audit_dev_writes_json_report_and_exits_zero(root, cli):
    # Given the dev stack and its waivers
    out = root / "audit.json"
    # When the auditor runs one command
    code, stdout, stderr = cli(
        "audit", "--stack", "dev", "--format", "json", "--out", out, "--root", root
    )
    # Then it passes, says where the report is, and the report is there
    assert code == 0, stderr
    assert "audit PASS" in stdout and str(out) in stdout, stdout
    assert json.loads(out.read_text())["summary"]["status"] == "pass", "the report must say pass"


def test_audit_mandatory_failure_exits_one_with_one_line_error(root, cli, monkeypatch):
    # Given a config that lags the pack (its floor lowered to AWS's 7 days; the shipped one
    # refuses such a file, tests/infra/test_config.py) and a dev stack file using it
    from common import minimums

    monkeypatch.setattr(minimums, "KMS_DELETION_WINDOW_DAYS", 7)
    stack = root / "Pulumi.dev.yaml"
    config = yaml.safe_load(stack.read_text())
    config["config"]["mlops:kms"] = {"deletionWindowDays": 7}
    stack.write_text(yaml.safe_dump(config))
    out = root / "audit.md"
    # When the audit runs
    code, stdout, stderr = cli("audit", "--stack", "dev", "--out", out, "--root", root)
    # Then it exits 1, names the failures, and still writes the report
    assert code == 1, (stdout, stderr)
    assert "kms-key-deletion-window-minimum" in stdout, stdout
    assert stderr.strip().count("\n") == 0 and stderr.startswith("error: audit of dev failed"), (
        stderr
    )
    assert "FAIL" in out.read_text(), "the report is written even when the audit fails"


def test_audit_expired_waiver_exits_one(root, cli):
    # Given the shipped waivers with their expiry moved into the past
    waivers = root / "policies" / "waivers.yaml"
    data = yaml.safe_load(waivers.read_text())
    for waiver in data["waivers"]:
        waiver["expiry"] = "2020-01-31"
    waivers.write_text(yaml.safe_dump(data))
    # When the dev audit runs
    code, stdout, stderr = cli(
        "audit", "--stack", "dev", "--out", str(root / "a.md"), "--root", root
    )
    # Then the expired waivers fail it
    assert code == 1, stderr
    assert "expired on 2020-01-31" in stdout, stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--stack", "qa"], "unknown stack 'qa'"),
        (["--stack", "dev", "--format", "pdf"], "unknown format 'pdf'"),
        (["--stack", "dev", "--waivers", "missing.yaml"], "--waivers missing.yaml: no such file"),
    ],
    ids=["unknown-stack", "unknown-format", "missing-waivers"],
)
def test_audit_bad_input_exits_two_with_one_line(argv, message, root, cli):
    # Given a mistyped argument
    # When the audit runs
    code, _, stderr = cli("audit", *argv, "--root", root)
    # Then it exits 2 with one line saying what is wrong
    assert code == 2, stderr
    assert message in stderr and stderr.strip().count("\n") == 0, stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("waivers:\n  - policy: [unclosed\n", "malformed YAML at line"),
        (
            "waivers:\n  - policy: no-such-policy\n    resource: x\n    justification: "
            "a long enough justification\n    owner: me\n    expiry: 2027-01-01\n",
            "unknown policy 'no-such-policy'",
        ),
    ],
    ids=["malformed", "unknown-policy"],
)
def test_audit_bad_waiver_file_exits_two_with_one_line(content, message, root, cli):
    # Given a broken waiver file
    path = root / "bad.yaml"
    path.write_text(content)
    # When the audit runs with it
    code, _, stderr = cli("audit", "--stack", "dev", "--waivers", path, "--root", root)
    # Then it exits 2 before rendering anything, with one line
    assert code == 2, stderr
    assert message in stderr and stderr.strip().count("\n") == 0, stderr
