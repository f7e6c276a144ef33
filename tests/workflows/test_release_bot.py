"""The revert pull request is opened with the release bot's token, not GITHUB_TOKEN.

GitHub starts no workflow for a pull request that GITHUB_TOKEN opened, so a revert opened
with it would never be planned or verified. The revert job model-release.yml runs for each
stack (the `revert` job of _deploy-stack.yml, called with `revert: true`) mints a GitHub App
installation token (contents and pull requests only) and gives it, and only it, to the step
that pushes and opens the pull request. Read from the workflow files as they are.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from infra import contracts
from tests.workflows.rules import Workflow

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "model-release.yml"
APP_TOKEN_ACTION = "actions/create-github-app-token"
# The jobs that run: each stack's call of _deploy-stack.yml, expanded.
REVERT_JOBS = ("deploy-dev/revert", "deploy-staging/revert", "deploy-prod/revert")


def _workflow() -> dict[str, Any]:
    return {"jobs": Workflow.load(WORKFLOW).jobs}


def revert_token_problems(job_id: str, job: dict[str, Any]) -> list[str]:
    """Why `job` would not open its revert pull request as the release bot (empty: it does)."""
    steps = job.get("steps") or []
    minted = [s for s in steps if str(s.get("uses", "")).split("@")[0] == APP_TOKEN_ACTION]
    opens = [s for s in steps if "mlops release revert" in str(s.get("run", ""))]
    if len(minted) != 1 or len(opens) != 1:
        return [f"{job_id}: needs one {APP_TOKEN_ACTION} step and one revert step"]
    mint, revert = minted[0], opens[0]
    inputs = mint.get("with") or {}
    problems = []
    wanted = {"permission-contents": "write", "permission-pull-requests": "write"}
    granted = {k: v for k, v in inputs.items() if k.startswith("permission-")}
    if granted != wanted:
        problems.append(f"{job_id}: the bot's token must get exactly {wanted} (found {granted})")
    if inputs.get("client-id") != f"${{{{ vars.{contracts.RELEASE_BOT_CLIENT_ID_VARIABLE} }}}}":
        problems.append(f"{job_id}: client-id must be the repository variable")
    if inputs.get("private-key") != f"${{{{ secrets.{contracts.RELEASE_BOT_KEY_SECRET} }}}}":
        problems.append(f"{job_id}: private-key must be the environment's secret")
    if job.get("environment") != contracts.RELEASE_BOT_ENVIRONMENT:
        problems.append(f"{job_id}: must run in environment {contracts.RELEASE_BOT_ENVIRONMENT}")
    if steps.index(mint) > steps.index(revert):
        problems.append(f"{job_id}: the token is minted after the revert step")
    token = f"${{{{ steps.{mint.get('id')}.outputs.token }}}}"
    if (revert.get("env") or {}).get("GH_TOKEN") != token:
        problems.append(f"{job_id}: the revert step's GH_TOKEN must be the bot's token {token}")
    for scope in (job.get("env") or {}, *(s.get("env") or {} for s in steps)):
        if any(
            "github.token" in str(v) or "secrets.GITHUB_TOKEN" in str(v) for v in scope.values()
        ):
            problems.append(f"{job_id}: GITHUB_TOKEN is handed to a step")
    if (job.get("permissions") or {}) != {"contents": "read"}:
        problems.append(f"{job_id}: GITHUB_TOKEN needs contents: read only (found "
                        f"{job.get('permissions')})")  # fmt: skip
    return problems


@pytest.mark.parametrize("job_id", REVERT_JOBS)
def test_revert_job_opens_the_pull_request_with_the_release_bot_token(job_id: str):
    # Given a revert job of model-release.yml as written, then it uses the bot's token only,
    job = _workflow()["jobs"][job_id]
    assert revert_token_problems(job_id, job) == []
    # and it runs after a rollback of its stack's pulumi up, on main only.
    stack = job_id.split("/")[0].removeprefix("deploy-")
    assert job["env"]["STACK"] == stack and job["needs"][-1] == f"deploy-{stack}/deploy", job
    condition = " ".join(str(job["if"]).split())
    assert condition.startswith("${{ true && github.ref == 'refs/heads/main' && failure()"), (
        condition
    )


def _attacked(change) -> list[str]:
    job = copy.deepcopy(_workflow()["jobs"]["deploy-prod/revert"])
    change(job)
    return revert_token_problems("deploy-prod/revert", job)


def _revert_step(job: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in job["steps"] if "mlops release revert" in str(s.get("run", "")))


def test_revert_step_back_on_github_token_is_caught():
    # When the revert step's GH_TOKEN goes back to the workflow's token (no workflow would run)
    problems = _attacked(lambda j: _revert_step(j)["env"].update(GH_TOKEN="${{ github.token }}"))
    assert any("GH_TOKEN must be the bot's token" in p for p in problems), problems
    assert any("GITHUB_TOKEN is handed" in p for p in problems), problems


def test_github_token_given_write_scopes_again_is_caught():
    problems = _attacked(lambda j: j["permissions"].update({"contents": "write"}))
    assert any("contents: read only" in p for p in problems), problems


def test_bot_token_widened_to_workflows_is_caught():
    # When the bot's token also gets `workflows: write` (it could then rewrite CI itself)
    def change(job: dict[str, Any]) -> None:
        mint = next(s for s in job["steps"] if APP_TOKEN_ACTION in str(s.get("uses", "")))
        mint["with"]["permission-workflows"] = "write"

    problems = _attacked(change)
    assert any("must get exactly" in p for p in problems), problems


def test_bot_key_read_outside_its_environment_is_caught():
    problems = _attacked(lambda j: j.pop("environment"))
    assert any("environment release-bot" in p for p in problems), problems
