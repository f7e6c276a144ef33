"""Workflows cannot import infra/contracts.py: read them and hold every cross-layer name
they spell (environment variables, `pulumi stack output` names, GitHub environments of
signing and approval) to the contract, so a rename there that misses a workflow fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from infra import contracts
from infra.config import STACKS
from tests.workflows.rules import Workflow

WORKFLOWS = sorted((Path(__file__).resolve().parents[2] / ".github" / "workflows").glob("*.yml"))
ENV_NAME = re.compile(r"\bMLOPS_[A-Z0-9_]+\b")
# `pulumi stack output [--flags] NAME`: the name is the first bare word after the flags.
STACK_OUTPUT = re.compile(
    r"pulumi\s+stack\s+output((?:\s+--?[\w-]+(?:[= ][^\s-]\S*)?)*)\s+([\w.]+)"
)
EXPRESSION = re.compile(r"\$\{\{[^}]*\}\}")
DUTY_ENVIRONMENTS = (
    contracts.signing_environment,
    contracts.approval_environment,
    contracts.promotion_environment,
)


def unknown_names(text: str, path: Path = Path("inline.yml")) -> list[str]:
    """One message per name in a workflow's text that the contract does not declare; the
    environments are those of the jobs that run (a reusable workflow's, with its callers'
    inputs, are read through its callers)."""
    problems = [
        f"environment variable {name} is not in infra/contracts.py Env"
        for name in sorted(set(ENV_NAME.findall(text)))
        if name not in set(contracts.Env)
    ]
    for match in STACK_OUTPUT.finditer(text):
        output = match.group(2).split(".", 1)[0]
        if output not in set(contracts.StackOutput):
            problems.append(
                f"`pulumi stack output {match.group(2)}`: {output} is not a stack output"
            )
    workflow = Workflow(path, text, yaml.safe_load(text) or {})
    jobs = {} if workflow.reusable else workflow.jobs
    for job_id, job in jobs.items():
        environment = job.get("environment") if isinstance(job, dict) else None
        name = environment.get("name") if isinstance(environment, dict) else environment
        if not isinstance(name, str) or name in (*STACKS, contracts.RELEASE_BOT_ENVIRONMENT):
            continue  # the deploy jobs enter the stack's own environment; reverts the bot's
        stacks = [*STACKS, *EXPRESSION.findall(name)]
        if not any(name == make(stack) for make in DUTY_ENVIRONMENTS for stack in stacks):
            problems.append(
                f"job {job_id}: environment {name!r} is neither a stack nor "
                f"{contracts.signing_environment('<stack>')} / "
                f"{contracts.approval_environment('<stack>')} / "
                f"{contracts.promotion_environment('<stack>')}"
            )
    return problems


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_names_are_contract_names(workflow: Path):
    # given a shipped workflow, when its names are read, then each is the contract's
    problems = unknown_names(workflow.read_text(encoding="utf-8"), workflow)
    assert not problems, f"{workflow.name}: " + "; ".join(problems)


def test_workflows_exist_and_use_contract_names():
    # the check above must have something to read: the release workflows set these
    text = "".join(w.read_text(encoding="utf-8") for w in WORKFLOWS)
    assert len(WORKFLOWS) >= 5, f"expected the shipped workflows, found {WORKFLOWS}"
    assert "MLOPS_ARTIFACT_BUCKET" in text and "model-signing-" in text, (
        "the sign job no longer sets MLOPS_ARTIFACT_BUCKET or enters model-signing-<stack>: "
        "update this test's expectations"
    )


def _model_build() -> str:
    return next(w for w in WORKFLOWS if w.name == "model-build.yml").read_text(encoding="utf-8")


def test_renamed_environment_variable_in_workflow_is_caught():
    # attack: the sign job sets a variable `mlops register` never reads
    text = _model_build().replace("MLOPS_ARTIFACT_BUCKET:", "MLOPS_ARTIFACTS_BUCKET:")
    problems = unknown_names(text)
    assert any("MLOPS_ARTIFACTS_BUCKET" in p for p in problems), problems


def test_unknown_stack_output_in_workflow_is_caught():
    # attack: a step reads an output the program does not export
    step = "      - run: pulumi stack output --stack dev --json artifactsBucket\n"
    text = _model_build().replace("    steps:\n", "    steps:\n" + step, 1)
    problems = unknown_names(text)
    assert any("artifactsBucket" in p for p in problems), problems


def test_known_stack_output_in_workflow_passes():
    text = _model_build().replace(
        "    steps:\n", "    steps:\n      - run: pulumi stack output --json roles.training\n", 1
    )
    assert unknown_names(text) == [], "roles.training is a contract output"


def test_signing_job_in_misnamed_environment_is_caught():
    # attack: the sign job enters an environment gh-release does not trust by the contract
    text = _model_build().replace(
        "environment: model-signing-${{ matrix.stack }}", "environment: signing-${{ matrix.stack }}"
    )
    problems = unknown_names(text)
    assert any("signing-${{ matrix.stack }}" in p for p in problems), problems


def test_called_deploy_job_in_a_misnamed_environment_is_caught():
    # attack: prod's call of _deploy-stack.yml enters an environment no stack's role trusts
    text = next(w for w in WORKFLOWS if w.name == "model-release.yml").read_text(encoding="utf-8")
    text = text.replace("environment: prod #", "environment: production #")
    problems = unknown_names(text, Path("model-release.yml"))
    assert problems == [
        "job deploy-prod/deploy: environment 'production' is neither a stack nor "
        "model-signing-<stack> / model-approval-<stack> / model-promotion-<stack>"
    ], problems
