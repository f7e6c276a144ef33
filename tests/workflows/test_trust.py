"""Attacks on the workflows' trust boundaries, each caught by a rule in rules.py.

Each test loads a real workflow, makes the one change an attacker with a branch (or a
careless edit) would make, and asserts that the rule guarding that boundary reports it.
The unmodified workflows pass every rule (test_hardening.py).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from tests.workflows.rules import RULES, Workflow

WORKFLOW_DIR = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def _load(name: str) -> Workflow:
    return Workflow.load(WORKFLOW_DIR / name)


def _mutated(wf: Workflow, change) -> Workflow:
    """The workflow after `change(data)`, re-serialised so rules that read the text see it."""
    data: dict[str, Any] = copy.deepcopy(wf.data)
    change(data)
    text = yaml.safe_dump(data, sort_keys=False)
    return Workflow(path=wf.path, text=text, data=yaml.safe_load(text))


def _check(rule: str, wf: Workflow) -> list[str]:
    return RULES[rule](wf)


def test_pr_training_job_entering_prod_signing_environment_is_caught():
    # Given the PR training job, when an attacker adds the prod signing environment to it,
    wf = _mutated(
        _load("model-train.yml"),
        lambda d: d["jobs"]["train"].update(environment="model-signing-prod"),
    )
    # then the rule reports the environment a pull request would reach.
    problems = _check("pull_request_jobs_hold_no_release_credential", wf)
    assert any("model-signing-prod" in p for p in problems), problems


def test_pr_training_job_assuming_the_release_role_is_caught():
    # Given the PR training job, when its role becomes the release (signing) role,
    def change(data: dict[str, Any]) -> None:
        for step in data["jobs"]["train"]["steps"]:
            if "role-to-assume" in (step.get("with") or {}):
                step["with"]["role-to-assume"] = "${{ vars.AWS_RELEASE_ROLE_ARN }}"

    wf = _mutated(_load("model-train.yml"), change)
    # then the rule names the role a pull request must never reach.
    problems = _check("pull_request_jobs_hold_no_release_credential", wf)
    assert any("AWS_RELEASE_ROLE_ARN" in p for p in problems), problems


def test_sign_job_added_to_the_pull_request_workflow_is_caught():
    # Given model-train (pull_request), when the sign job of model-build is pasted into it,
    sign = _load("model-build.yml").data["jobs"]["sign"]
    wf = _mutated(_load("model-train.yml"), lambda d: d["jobs"].update(sign=sign))
    # then nothing flags it while it keeps its main guard (a PR run skips it) ...
    assert _check("pull_request_jobs_hold_no_release_credential", wf) == []
    # ... and once the guard goes, the environment and the role are both reported.
    del wf.data["jobs"]["sign"]["if"]
    problems = _check("pull_request_jobs_hold_no_release_credential", wf)
    assert any("environment" in p for p in problems), problems
    assert any("AWS_RELEASE_ROLE_ARN" in p for p in problems), problems


def test_pull_request_trigger_added_to_model_build_is_caught_without_main_guard():
    # Given model-build, when a pull_request trigger is added and the approve job's main
    # guard is weakened with an `||`,
    def change(data: dict[str, Any]) -> None:
        data[True]["pull_request"] = None  # PyYAML reads the key `on` as True
        data["jobs"]["approve"]["if"] = (
            "${{ github.ref == 'refs/heads/main' || github.event_name == 'pull_request' }}"
        )

    wf = _mutated(_load("model-build.yml"), change)
    # then the approve job counts as startable by a pull request and is reported.
    problems = _check("pull_request_jobs_hold_no_release_credential", wf)
    assert any("job approve" in p and "model-approval-" in p for p in problems), problems
    assert any("job approve" in p and "AWS_APPROVE_ROLE_ARN" in p for p in problems), problems


def test_sign_job_without_main_guard_is_caught():
    # Given model-build's sign job, when its `if: github.ref == 'refs/heads/main'` is dropped
    # (a workflow_dispatch on any branch would then sign that branch's code),
    wf = _mutated(_load("model-build.yml"), lambda d: d["jobs"]["sign"].pop("if"))
    # then the rule asks for the guard.
    problems = _check("release_duties_on_main_in_their_environments", wf)
    assert any("job sign" in p and "refs/heads/main" in p for p in problems), problems


def test_build_job_without_main_guard_is_caught():
    # Given model-build's build job (gh-build trusts the main ref), when its guard is dropped,
    wf = _mutated(_load("model-build.yml"), lambda d: d["jobs"]["build"].pop("if"))
    # then the rule reports it.
    problems = _check("release_duties_on_main_in_their_environments", wf)
    assert any("job build" in p and "AWS_BUILD_ROLE_ARN" in p for p in problems), problems


def test_sign_job_in_shared_signing_environment_is_caught():
    # Given the sign job, when every stack signs from the one shared `model-signing`
    # environment (so prod's signing role would trust what dev's trusts),
    wf = _mutated(
        _load("model-build.yml"),
        lambda d: d["jobs"]["sign"].update(environment="model-signing"),
    )
    # then each stack is reported with the environment it must use.
    problems = _check("release_duties_on_main_in_their_environments", wf)
    assert any("'model-signing-prod'" in p for p in problems), problems
    assert len(problems) == 3, problems


def test_approve_job_in_signing_environment_is_caught():
    # Given the approve job, when it runs in the signing environment (no required reviewers
    # of its own: the signer would approve),
    wf = _mutated(
        _load("model-build.yml"),
        lambda d: d["jobs"]["approve"].update(environment="model-signing-${{ matrix.stack }}"),
    )
    # then the rule wants model-approval-<stack>.
    problems = _check("release_duties_on_main_in_their_environments", wf)
    assert any("'model-approval-staging'" in p for p in problems), problems


def test_prod_plan_verifying_artifacts_on_pull_request_is_caught():
    # Given model-release's PR plan job, when `--registry-only` is removed from its verify
    # (prod's plan role would need to read and decrypt prod models),
    def change(data: dict[str, Any]) -> None:
        for step in data["jobs"]["plan"]["steps"]:
            if "release verify" in str(step.get("run", "")):
                step["run"] = step["run"].replace(" --registry-only", "")

    wf = _mutated(_load("model-release.yml"), change)
    # then the rule reports it.
    problems = _check("pull_request_jobs_read_no_model_bytes", wf)
    assert any("--registry-only" in p for p in problems), problems


def test_pr_training_fetching_the_prod_model_is_caught():
    # Given the PR training job, when its stack becomes prod (it would fetch prod's model),
    wf = _mutated(_load("model-train.yml"), lambda d: d["env"].update(STACK="prod"))
    # then the rule reports the prod fetch.
    problems = _check("pull_request_jobs_read_no_model_bytes", wf)
    assert any("'prod'" in p for p in problems), problems


def test_deploy_job_installing_without_the_lock_is_caught():
    # Given the prod deploy job, when it installs with `make setup` (resolving from the index),
    def change(data: dict[str, Any]) -> None:
        for step in data["jobs"]["deploy-prod"]["steps"]:
            if step.get("run") == "make setup-locked":
                step["run"] = "make setup"

    wf = _mutated(_load("model-release.yml"), change)
    # then the rule reports both the missing locked install and the unlocked one.
    problems = _check("credentialed_jobs_install_from_lock", wf)
    assert any("needs setup-locked" in p for p in problems), problems
    assert any("outside the lock: make setup" in p for p in problems), problems


def test_sign_job_adding_a_pip_install_is_caught():
    # Given the sign job, when a step installs one more package after the locked install,
    wf = _mutated(
        _load("model-build.yml"),
        lambda d: d["jobs"]["sign"]["steps"].append(
            {"name": "Add a helper", "run": ".venv/bin/python -m pip install helper"}
        ),
    )
    # then the rule reports the install outside the lock.
    problems = _check("credentialed_jobs_install_from_lock", wf)
    assert any("pip install helper" in p for p in problems), problems


def test_deploy_job_without_main_guard_on_pull_request_workflow_is_caught():
    # Given model-release (it also runs on pull requests), when deploy-prod loses its guard,
    wf = _mutated(_load("model-release.yml"), lambda d: d["jobs"]["deploy-prod"].pop("if"))
    # then a pull request could reach the prod environment and the deploy role: reported.
    problems = _check("pull_request_jobs_hold_no_release_credential", wf)
    assert any("deploy-prod" in p and "'prod'" in p for p in problems), problems
    assert any("deploy-prod" in p and "AWS_DEPLOY_ROLE_ARN" in p for p in problems), problems


def _previewed_stacks_on_pull_requests(wf: Workflow) -> set[str]:
    """Stacks whose PR plan leg runs `pulumi preview` (which reads the stack's state)."""
    plan = wf.data["jobs"]["plan"]
    (preview,) = [s for s in plan["steps"] if (s.get("with") or {}).get("command") == "preview"]
    condition = str(preview.get("if", ""))
    legs = plan["strategy"]["matrix"]["include"]
    if "matrix.preview" not in condition:
        return {leg["stack"] for leg in legs}
    return {leg["stack"] for leg in legs if leg.get("preview") is True}


def test_pull_requests_preview_dev_and_staging_but_never_prod():
    # Given the PR plan jobs as written: prod's plan role is metadata-only (no state access,
    # so a pull request's code never reads prod's state or its secrets)
    for name in ("infra-deploy.yml", "model-release.yml"):
        # Then they preview dev and staging only
        assert _previewed_stacks_on_pull_requests(_load(name)) == {"dev", "staging"}, name


def test_prod_preview_added_to_the_pull_request_plan_is_caught():
    # Given infra-deploy's plan with its preview condition removed (an attacker's edit)
    def change(data: dict[str, Any]) -> None:
        for step in data["jobs"]["plan"]["steps"]:
            if (step.get("with") or {}).get("command") == "preview":
                step["if"] = "${{ !cancelled() }}"

    wf = _mutated(_load("infra-deploy.yml"), change)
    # Then prod is among the previewed stacks again
    assert "prod" in _previewed_stacks_on_pull_requests(wf)


def test_promote_job_in_prod_signing_environment_is_caught():
    # Given model-release's promote job, when it runs in prod's signing environment (whose
    # reviewers guard signing, not promotion),
    wf = _mutated(
        _load("model-release.yml"),
        lambda d: d["jobs"]["promote-prod"].update(environment="model-signing-prod"),
    )
    # then the rule wants model-promotion-prod.
    problems = _check("release_duties_on_main_in_their_environments", wf)
    assert any("'model-promotion-prod'" in p for p in problems), problems


def test_promote_job_without_main_guard_is_caught():
    # Given the promote job, when its main guard is dropped (a pull request could start it),
    wf = _mutated(
        _load("model-release.yml"),
        lambda d: d["jobs"]["promote-prod"].update(
            {"if": "${{ needs.deploy-staging.outputs.outcome == 'promote' }}"}
        ),
    )
    # then the rule reports the job that assumes gh-promote.
    problems = _check("release_duties_on_main_in_their_environments", wf)
    assert any("promote-prod" in p for p in problems), problems
