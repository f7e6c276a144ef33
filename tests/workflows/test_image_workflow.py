"""image.yml: the image is built without credentials, pushed by gh-build and signed by
gh-release in the stack's signing environment, on main only. Read from the file as it is;
each attack changes one thing and the check that guards it must catch it.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.workflows.rules import AWS_ACTION, RULES, Workflow

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "image.yml"
SBOM_ACTION = "anchore/sbom-action"


def _load() -> Workflow:
    return Workflow.load(WORKFLOW)


def _mutated(change) -> Workflow:
    data: dict[str, Any] = copy.deepcopy(_load().data)
    change(data)
    text = yaml.safe_dump(data, sort_keys=False)
    return Workflow(path=WORKFLOW, text=text, data=yaml.safe_load(text))


def _index(steps: list[dict[str, Any]], predicate) -> int:
    (index,) = [i for i, step in enumerate(steps) if predicate(step)]
    return index


def credential_order_problems(wf: Workflow) -> list[str]:
    """The push job builds and scans the image before any role is assumed, then pushes
    the image it built, tagged with the commit."""
    steps = wf.jobs["push"]["steps"]
    build = _index(steps, lambda s: str(s.get("run", "")).startswith("make image"))
    sbom = _index(steps, lambda s: str(s.get("uses", "")).startswith(SBOM_ACTION))
    assume = _index(steps, lambda s: str(s.get("uses", "")).startswith(AWS_ACTION))
    push = _index(steps, lambda s: "mlops image push" in str(s.get("run", "")))
    problems = []
    if not build < assume:
        problems.append("push: the image is built after AWS credentials exist in the job")
    if not build < sbom < push:
        problems.append("push: the SBOM is not written from the built image before the push")
    if steps[sbom]["with"].get("image") != "${{ env.LOCAL_IMAGE }}":
        problems.append("push: the SBOM describes another image than the one built")
    if not assume < push:
        problems.append("push: pushes before assuming gh-build")
    run = " ".join(str(steps[push]["run"]).split())
    if '--image "${LOCAL_IMAGE}"' not in run or '--commit "${GITHUB_SHA}"' not in run:
        problems.append(f"push: must push the built image as git-<commit> (found: {run})")
    return problems


def test_image_workflow_builds_before_credentials_and_pushes_what_it_built():
    assert credential_order_problems(_load()) == []


def test_build_moved_after_the_role_is_assumed_is_caught():
    # The attack: build (running the Dockerfile's installs) while gh-build's session is live
    def change(data: dict[str, Any]) -> None:
        steps = data["jobs"]["push"]["steps"]
        build = steps.pop(_index(steps, lambda s: str(s.get("run", "")).startswith("make image")))
        steps.insert(_index(steps, lambda s: "mlops image push" in str(s.get("run", ""))), build)

    problems = credential_order_problems(_mutated(change))
    assert any("built after AWS credentials" in p for p in problems), problems


def test_image_workflow_is_main_only_and_never_starts_on_pull_requests():
    wf = _load()
    assert set(wf.triggers) == {"push", "workflow_dispatch"}, wf.triggers
    assert wf.triggers["push"]["branches"] == ["main"], wf.triggers
    for job_id, job in wf.jobs.items():
        assert "github.ref == 'refs/heads/main'" in str(job.get("if")), f"{job_id}: no main guard"


def test_pull_request_trigger_with_the_push_guard_weakened_is_caught():
    # The attack: let pull requests run the push job (gh-build could push a branch's image)
    def change(data: dict[str, Any]) -> None:
        data[True]["pull_request"] = None  # PyYAML reads the key `on` as True
        data["jobs"]["push"]["if"] = "${{ github.ref == 'refs/heads/main' || true }}"

    problems = RULES["pull_request_jobs_hold_no_release_credential"](_mutated(change))
    assert any("job push" in p and "AWS_BUILD_ROLE_ARN" in p for p in problems), problems


def test_sign_job_outside_the_signing_environment_is_caught():
    # The attack: sign image digests without the model-signing-<stack> environment
    problems = RULES["release_duties_on_main_in_their_environments"](
        _mutated(lambda d: d["jobs"]["sign"].pop("environment"))
    )
    assert any("'model-signing-prod'" in p for p in problems), problems


def test_push_job_assuming_the_release_role_is_caught():
    # The attack: the push job (no environment) takes the signing role to sign its own push
    def change(data: dict[str, Any]) -> None:
        for leg in data["jobs"]["push"]["strategy"]["matrix"]["include"]:
            leg["role"] = "${{ vars.AWS_RELEASE_ROLE_ARN }}"

    problems = RULES["release_duties_on_main_in_their_environments"](_mutated(change))
    assert any("job push: AWS_RELEASE_ROLE_ARN" in p and "model-signing-" in p for p in problems), (
        problems
    )


def test_sign_job_signs_the_digest_the_push_job_read_back_from_ecr():
    sign = _load().jobs["sign"]
    legs = {leg["stack"]: leg for leg in sign["strategy"]["matrix"]["include"]}
    for stack in ("dev", "staging", "prod"):
        assert legs[stack]["digest"] == f"${{{{ needs.push.outputs.digest-{stack} }}}}", legs
    runs = [" ".join(str(s["run"]).split()) for s in sign["steps"] if "run" in s]
    assert any(r.startswith('.venv/bin/mlops image sign --digest "${DIGEST}"') for r in runs), runs
    assert any(r.startswith('.venv/bin/mlops image verify --digest "${DIGEST}"') for r in runs)


# ---- make image -----------------------------------------------------------------------


def test_make_image_without_a_container_engine_says_so_in_one_line(tmp_path: Path):
    # Given a PATH with make and a shell but neither docker nor podman
    for tool in ("make", "sh", "bash"):
        (tmp_path / tool).symlink_to(shutil.which(tool) or pytest.fail(f"{tool} missing"))
    result = subprocess.run(["make", "--no-print-directory", "image"], cwd=ROOT,
                            env={"PATH": str(tmp_path)}, capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    # Then make image fails with one line naming the engines, before running anything
    assert result.returncode != 0, result
    first = result.stderr.splitlines()[0]
    assert first == (
        "make image: no container engine found; install docker or podman, or set ENGINE="
    ), result.stderr
    assert result.stdout == "", result.stdout
