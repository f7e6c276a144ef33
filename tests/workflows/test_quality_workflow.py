"""quality-monitor.yml: read as it is. It runs `mlops quality` as the monitor role on main's
schedule with options the command has, publishes the metric the quality alarm watches, and
opens or updates one issue per stack from the report the command writes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main
import yaml

from ml.cli import app

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "quality-monitor.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _step(workflow: dict, name_part: str) -> dict:
    (step,) = [s for s in workflow["jobs"]["quality"]["steps"] if name_part in s.get("name", "")]
    return step


def _argv(step: dict) -> list[str]:
    return shlex.split(step["run"].replace("\n", " "))


def test_quality_workflow_runs_on_main_schedule_only_with_least_permissions(workflow) -> None:
    # PyYAML reads the `on:` key as True
    triggers = workflow.get("on", workflow.get(True))
    assert set(triggers) == {"schedule", "workflow_dispatch"}, f"no PR trigger: {triggers}"
    assert workflow["permissions"] == {}, "nothing at the top level"
    job = workflow["jobs"]["quality"]
    assert job["permissions"] == {"contents": "read", "id-token": "write", "issues": "write"}
    roles = {entry["role"] for entry in job["strategy"]["matrix"]["include"]}
    assert roles == {
        "${{ vars.AWS_MONITOR_ROLE_ARN_STAGING }}",
        "${{ vars.AWS_MONITOR_ROLE_ARN_PROD }}",
    }, "the monitor role of each stack, whose trust accepts main only"


def test_quality_workflow_command_uses_only_options_mlops_quality_has(workflow) -> None:
    # Given the command the workflow runs, and the quality command's options as declared
    argv = _argv(_step(workflow, "Quality of the served model"))
    assert argv[:2] == [".venv/bin/mlops", "quality"], argv
    command = typer.main.get_command(app).commands["quality"]  # type: ignore[attr-defined]
    # typer ships its own click: options are recognised by their kind, not their class
    declared = {o for p in command.params if p.param_type_name == "option" for o in p.opts}
    used = {a for a in argv if a.startswith("--")}
    # Then every option exists, and the run publishes the metric for its endpoint
    assert used <= declared, f"unknown options: {sorted(used - declared)}"
    assert {"--captures", "--labels", "--endpoint", "--publish-metrics", "--out"} <= used, used


def test_quality_issue_is_opened_from_the_report_the_command_writes(workflow) -> None:
    # Given where the command writes its reports and what the issue step posts
    argv = _argv(_step(workflow, "Quality of the served model"))
    out = argv[argv.index("--out") + 1]
    issue = _step(workflow, "Open or update the quality issue")
    issue_argv = _argv(issue)
    # Then the issue body is the command's quality.md, one issue per stack (its marker)
    assert issue_argv[issue_argv.index("--body-file") + 1] == f"{out}/quality.md", issue_argv
    assert issue_argv[issue_argv.index("--marker") + 1] == "quality-${STACK}", issue_argv
    # and only a regression (exit 1, which leaves a report) opens it, not bad input (exit 2)
    condition = re.sub(r"\s+", " ", issue["if"])
    assert "failure()" in condition and "quality.md" in condition, condition
