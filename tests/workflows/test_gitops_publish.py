"""The GitOps hand-off, read from the workflow files as they are: every stack that renders
Kubernetes manifests has them carried from its `pulumi up` job (AWS credentials, no git
write) to a job that only pushes them to the gitops branch (git write, no AWS). Both jobs
are called workflows (_deploy-stack.yml, _publish-manifests.yml), read as their callers run
them (tests/workflows/rules.py expands the calls)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.config import STACKS, load_stack
from ml.release.gitops import rendered_directory
from tests.workflows.rules import Workflow

ROOT = Path(__file__).resolve().parents[2]
# Both ways a stack's serving changes: a platform change and a release (version bump).
WORKFLOWS = ("infra-deploy.yml", "model-release.yml")
RENDERING = [
    stack
    for stack in STACKS
    if load_stack(stack, ROOT).serving.kubernetes.enabled
    and load_stack(stack, ROOT).serving.kubernetes.render_yaml_to_directory
]


def _jobs(workflow: str) -> dict[str, Any]:
    return Workflow.load(ROOT / ".github/workflows" / workflow).jobs


def _step(job: dict[str, Any], action: str) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith(action + "@")]
    return step


def test_some_stack_renders_manifests() -> None:
    assert RENDERING == ["staging"], RENDERING


@pytest.mark.parametrize("workflow", WORKFLOWS)
@pytest.mark.parametrize("stack", RENDERING)
def test_deploy_job_hands_over_exactly_the_directory_pulumi_renders(
    workflow: str, stack: str
) -> None:
    jobs = _jobs(workflow)
    configured = load_stack(stack, ROOT).serving.kubernetes.render_yaml_to_directory
    expected = rendered_directory(ROOT, str(configured)).relative_to(ROOT).as_posix()
    upload = _step(jobs[f"deploy-{stack}/deploy"], "actions/upload-artifact")["with"]
    download = _step(jobs[f"publish-{stack}-manifests/publish"], "actions/download-artifact")[
        "with"
    ]
    assert upload["path"] == download["path"] == expected, (upload, download, expected)
    assert upload["name"] == download["name"], (upload["name"], download["name"])
    assert upload["if-no-files-found"] == "error", "a missing render must fail, not publish {}"


@pytest.mark.parametrize("workflow", WORKFLOWS)
@pytest.mark.parametrize("stack", RENDERING)
def test_publish_job_pushes_with_git_write_only_and_after_a_successful_deploy(
    workflow: str, stack: str
) -> None:
    job = _jobs(workflow)[f"publish-{stack}-manifests/publish"]
    # an attacker's easiest widening: AWS credentials (id-token) next to a git write token
    assert job["permissions"] == {"contents": "write"}, job["permissions"]
    uses = [str(s.get("uses", "")) for s in job["steps"]]
    assert not any(u.startswith("aws-actions/") for u in uses), uses
    assert f"deploy-{stack}/deploy" in job["needs"], "publish only what was deployed and watched"
    assert "always()" not in str(job.get("if")) and "failure()" not in str(job.get("if"))
    assert job["concurrency"] == {"group": "gitops-publish", "cancel-in-progress": False}
    assert job["env"]["STACK"] == stack, job["env"]
    (run,) = [s["run"] for s in job["steps"] if "run" in s and "publish-manifests" in s["run"]]
    assert run.startswith('.venv/bin/mlops infra publish-manifests --stack "${STACK}"'), run


@pytest.mark.parametrize("workflow", WORKFLOWS)
@pytest.mark.parametrize("stack", [s for s in STACKS if s not in RENDERING])
def test_stack_rendering_nothing_uploads_nothing(workflow: str, stack: str) -> None:
    # Given a stack whose pulumi up renders no manifests, its call passes no `manifests`,
    upload = _step(_jobs(workflow)[f"deploy-{stack}/deploy"], "actions/upload-artifact")
    # so the upload step is off (`if-no-files-found: error` would fail its deploy otherwise).
    assert upload["if"] == "${{ steps.up.outcome == 'success' && '' != '' }}", upload["if"]
