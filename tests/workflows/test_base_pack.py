"""The base commit's pack judges every pull request's graphs (issue 15: the pack cannot be
weakened by the change it judges), read from ci.yml as it is; each guarantee is also shown
to catch the one edit that would break it."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

CI = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "ci.yml"
JOB = "base-pack"
BASE_SHA = "${{ github.event.pull_request.base.sha }}"


def _ci() -> dict[str, Any]:
    return yaml.safe_load(CI.read_text(encoding="utf-8"))


def _uses(step: dict[str, Any]) -> str:
    return str(step.get("uses", "")).split("@", 1)[0]


def base_pack_problems(workflow: dict[str, Any]) -> list[str]:
    """What lets the pull request judge itself in the base-pack job (empty: nothing)."""
    triggers = workflow.get(True) or workflow.get("on") or {}  # PyYAML reads `on:` as True
    job = workflow["jobs"].get(JOB)
    if job is None:
        return [f"no job {JOB}"]
    problems = []
    if "pull_request" not in triggers:
        problems.append("ci.yml does not run on pull requests")
    steps = job.get("steps") or []
    checkouts = [s for s in steps if _uses(s) == "actions/checkout"]
    if len(checkouts) != 1:
        problems.append(f"{len(checkouts)} checkouts: exactly one, of the base commit")
    for step in checkouts:
        inputs = step.get("with") or {}
        if inputs.get("ref") != BASE_SHA:
            problems.append(f"checkout ref {inputs.get('ref')!r} is not the base commit")
        if inputs.get("persist-credentials") is not False:
            problems.append("checkout keeps the token (persist-credentials)")
        if inputs.get("repository") or inputs.get("path"):
            problems.append("checkout of another repository or into another path")
    for step in steps:
        if str(step.get("uses", "")).startswith("./"):
            problems.append(f"step {step.get('name')}: runs a local action from the checkout")
        if "run" in step and not re.fullmatch(r"make [a-z-]+( [A-Z]+=\S+)?", step["run"].strip()):
            problems.append(
                f"step {step.get('name')}: runs {step['run']!r}, not a base make target"
            )
        if step.get("working-directory") or "working-directory" in (step.get("with") or {}):
            problems.append(f"step {step.get('name')}: runs in another directory")
    downloads = [s for s in steps if _uses(s) == "actions/download-artifact"]
    for step in downloads:
        path = str((step.get("with") or {}).get("path", ""))
        if not path.startswith("${{ runner.temp }}"):
            problems.append(f"artifacts land in {path!r}, inside the base checkout")
    if "secrets." in yaml.safe_dump(job):
        problems.append("the job reads secrets")
    if job.get("permissions") != {"contents": "read"}:
        problems.append(f"permissions {job.get('permissions')} are more than contents: read")
    condition = str(job.get("if", ""))
    if "!cancelled()" not in condition or "pull_request" not in condition:
        problems.append(f"if {condition!r}: must run on every pull request, even after a failure")
    return problems


def test_ci_base_pack_job_judges_with_the_base_commit_only():
    # Given ci.yml as it is
    # When the base-pack job is read
    problems = base_pack_problems(_ci())
    # Then it checks out the base commit alone and runs only that commit's make targets
    assert problems == [], problems


def _mutated(edit) -> dict[str, Any]:
    workflow = copy.deepcopy(_ci())
    edit(workflow["jobs"][JOB])
    return workflow


def _step(job: dict[str, Any], uses: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if _uses(s) == uses)


ATTACKS = {
    "head-checkout": (
        lambda job: _step(job, "actions/checkout")["with"].update(
            ref="${{ github.event.pull_request.head.sha }}"
        ),
        "is not the base commit",
    ),
    "default-checkout": (
        lambda job: _step(job, "actions/checkout")["with"].pop("ref"),
        "is not the base commit",
    ),
    "second-checkout-of-the-pr": (
        lambda job: job["steps"].insert(
            1, {"name": "pr", "uses": job["steps"][0]["uses"], "with": {"path": "pr"}}
        ),
        "2 checkouts",
    ),
    "pr-script": (
        lambda job: job["steps"].append({"name": "x", "run": "python pr/ml/audit/check.py"}),
        "not a base make target",
    ),
    "pr-directory": (
        lambda job: job["steps"][-1].update({"working-directory": "pr"}),
        "runs in another directory",
    ),
    "artifact-over-the-checkout": (
        lambda job: _step(job, "actions/download-artifact")["with"].update(path="policies"),
        "inside the base checkout",
    ),
    "skipped-after-a-failed-render": (
        lambda job: job.update({"if": "${{ github.event_name == 'pull_request' }}"}),
        "even after a failure",
    ),
    "write-token": (
        lambda job: job["permissions"].update({"pull-requests": "write"}),
        "more than contents: read",
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_on_base_pack_job_is_caught(attack):
    # Given ci.yml with one edit that would let the pull request judge itself
    edit, expected = ATTACKS[attack]
    # When the base-pack job is read
    problems = base_pack_problems(_mutated(edit))
    # Then the edit is named
    assert any(expected in p for p in problems), problems


def test_ci_base_pack_receives_every_stack_graph_the_pull_request_rendered():
    # Given the job that renders each stack and the base-pack job
    workflow = _ci()
    job = workflow["jobs"][JOB]
    renderer = workflow["jobs"][job["needs"]]
    stacks = renderer["strategy"]["matrix"]["stack"]
    upload = next(s for s in renderer["steps"] if _uses(s) == "actions/upload-artifact")
    download = _step(job, "actions/download-artifact")
    # Then each stack's graph is uploaded under a name the download pattern takes
    assert stacks == ["dev", "staging", "prod"], stacks
    assert upload["with"]["name"] == "graph-${{ matrix.stack }}", upload
    assert upload["with"]["path"] == "build/graph-${{ matrix.stack }}.json", upload
    assert upload["with"]["if-no-files-found"] == "error", upload
    assert download["with"] == {
        "pattern": "graph-*",
        "merge-multiple": True,
        "path": "${{ runner.temp }}/pull-request-graphs",
    }, download
    # And the render comes before the pull request's own audit, so a failing audit still
    # hands its graph to the base pack
    names = [s.get("name") for s in renderer["steps"]]
    assert names.index(upload["name"]) < next(i for i, n in enumerate(names) if "Audit" in n)


def test_ci_base_pack_runs_a_make_target_that_judges_every_stack(repo_root: Path):
    # Given the base-pack job's last step and the Makefile
    job = _ci()["jobs"][JOB]
    makefile = (repo_root / "Makefile").read_text(encoding="utf-8")
    # Then the step runs `make check-graphs` on the downloaded graphs, and the target runs
    # the pack's graph entry requiring a graph of every stack
    assert (
        job["steps"][-1]["run"] == 'make check-graphs GRAPHS="${RUNNER_TEMP}/pull-request-graphs"'
    )
    recipe = re.search(r"^check-graphs:.*\n\t(.+)$", makefile, re.MULTILINE)
    assert recipe, "Makefile has no check-graphs target"
    assert recipe.group(1) == "$(BIN)/python -m ml.audit.check --every-stack $(GRAPHS)", recipe[1]


def test_ci_base_pack_is_a_required_check_of_main(repo_root: Path):
    # Given the GitHub settings program's config and ci.yml
    settings = yaml.safe_load((repo_root / "infra/github/Pulumi.github.yaml").read_text())
    required = settings["config"]["mlops-github:mainBranch"]["requiredStatusChecks"]
    # Then main requires the base-pack job's check by its name
    assert _ci()["jobs"][JOB]["name"] in required, required
