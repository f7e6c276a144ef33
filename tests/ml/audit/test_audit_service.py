"""`audit_graph`, the audit `mlops audit` and the demo both run, called directly: a graph
that breaks a mandatory policy fails as the project's error type, in one line, with the
report still written."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from common.errors import CheckFailed, MlopsError
from ml.audit.service import AuditRun, audit_graph, check_formats
from ml.audit.sources import Source

KMS_KEY = "aws:kms/key:Key"


@pytest.fixture(scope="module")
def dev_graph(repo_root: Path) -> dict[str, Any]:
    """The dev stack file rendered offline, as `mlops infra render` writes it."""
    from infra.offline import render_graph

    return render_graph("dev", repo_root)


def test_audit_graph_of_the_shipped_dev_stack_passes_and_writes_each_format(
    dev_graph: dict[str, Any], repo_root: Path, tmp_path: Path
) -> None:
    targets = {"json": tmp_path / "dev.json", "md": tmp_path / "dev.md"}
    run = audit_graph(dev_graph, Source("rendered"), targets, root=repo_root)
    assert isinstance(run, AuditRun) and run.passed, run.summary["failures"]
    assert json.loads(targets["json"].read_text())["summary"]["status"] == "pass", "json"
    assert targets["md"].read_text().startswith("#"), "markdown report written"


def test_a_data_key_with_rotation_off_fails_the_audit_in_one_line(
    dev_graph: dict[str, Any], repo_root: Path, tmp_path: Path
) -> None:
    # Given someone turns rotation off on the data key (symmetric) of the declared graph,
    graph = copy.deepcopy(dev_graph)
    key = next(
        r
        for r in graph["resources"]
        if r["type"] == KMS_KEY and r["inputs"].get("keyUsage", "ENCRYPT_DECRYPT") != "SIGN_VERIFY"
    )
    key["inputs"]["enableKeyRotation"] = False
    target = tmp_path / "dev.json"
    # when it is audited,
    with pytest.raises(CheckFailed) as failed:
        audit_graph(graph, Source("rendered"), {"json": target}, root=repo_root)
    # then the audit fails (exit 1) in one line, and the report names the policy.
    line = str(failed.value)
    assert failed.value.exit_code == 1, failed.value.exit_code
    assert "\n" not in line, line
    assert line.startswith("audit of dev failed: 1 mandatory policy failure(s)"), line
    assert line.endswith(f"see {target}"), line
    (failure,) = failed.value.result.summary["failures"]
    assert failure.startswith("kms-symmetric-key-rotation-enabled: "), failure
    assert json.loads(target.read_text())["summary"]["status"] == "fail", "written before failing"


def test_an_unknown_report_format_is_bad_input() -> None:
    with pytest.raises(MlopsError) as refused:
        check_formats(["pdf"])
    assert refused.value.exit_code == 2, refused.value.exit_code
    assert str(refused.value) == "unknown format 'pdf': choose one of md, json, sarif, html"
