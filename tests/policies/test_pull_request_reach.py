"""What a pull request can reach, across the three sides of the seam, each read as it is:
the workflow files (which jobs a pull request starts, which OIDC subjects they present),
the GitHub program's rendered graph (which environments admit `main` only), and every
stack's rendered graph (which roles admit those subjects, and what those roles may do).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from infra.config import load_stack
from infra.github.offline import render_github_graph
from infra.graph import Graph
from ml.audit.engine import subjects_of
from ml.audit.workflow_access import workflow_jobs
from policies.github import main_only_environments
from policies.reachability import (
    Repository,
    forbidden_for_pull_requests,
    reachable_powers,
    role_access,
)

ORG, REPO = "acme", "mlops-gitops"


@pytest.fixture(scope="module")
def github_graph(repo_root: Path) -> Graph:
    return Graph.from_json(render_github_graph(repo_root))


def _forbidden_reach(stack_graph: Graph, subjects: list[str]) -> dict[str, list[str]]:
    access = role_access(subjects_of(stack_graph), stack_graph.stack)
    forbidden = forbidden_for_pull_requests(stack_graph.stack)
    return {
        role: sorted(p for p in powers if p in forbidden)
        for role, powers in reachable_powers(access, subjects).items()
        if any(p in forbidden for p in powers)
    }


def _repository(stack_graph: Graph, github_graph: Graph, root: Path) -> Repository:
    github = load_stack(stack_graph.stack, root).github
    return Repository(github.org, github.repo, main_only_environments(subjects_of(github_graph)))


def _trusted(stack_graph: Graph) -> list[str]:
    access = role_access(subjects_of(stack_graph), stack_graph.stack)
    return [s for role in access for s in role.trust.oidc_subjects]


def test_shipped_stacks_trust_the_example_repository(repo_root):
    # The literals below stand for the repository the stack files name.
    assert {(load_stack(s, repo_root).github.org, load_stack(s, repo_root).github.repo)
            for s in ("dev", "staging", "prod")} == {(ORG, REPO)}  # fmt: skip


def test_jobs_a_pull_request_can_start_present_only_the_pull_request_subject(
    repo_root, github_graph
):
    # Given the workflow files and the environments GitHub keeps main-only
    main_only = main_only_environments(subjects_of(github_graph))
    jobs = workflow_jobs(repo_root / ".github" / "workflows")
    # When the jobs a pull request starts are asked for their OIDC subjects
    presented = {s for job in jobs for s in job.subjects(ORG, REPO, main_only)}
    # Then they present the pull_request subject and nothing else
    assert presented == {f"repo:{ORG}/{REPO}:pull_request"}, presented


def test_jobs_a_pull_request_can_start_reach_no_release_power(stack_graph, github_graph, repo_root):
    # Given what the workflows, as written, let a pull request present
    repository = _repository(stack_graph, github_graph, repo_root)
    jobs = workflow_jobs(repo_root / ".github" / "workflows")
    subjects = [
        s
        for job in jobs
        for s in job.subjects(repository.org, repository.repo, repository.main_only_environments)
    ]
    # Then the roles those subjects reach hold none of the forbidden powers
    assert _forbidden_reach(stack_graph, subjects) == {}, stack_graph.stack


def test_attacker_rewriting_the_workflows_reaches_no_release_power(
    stack_graph, github_graph, repo_root
):
    # Given every subject a pull request or branch writer can make GitHub issue, their own
    # workflow files included (any environment that is not main-only)
    repository = _repository(stack_graph, github_graph, repo_root)
    subjects = repository.attacker_subjects(_trusted(stack_graph))
    # Then no role they reach holds a forbidden power
    assert _forbidden_reach(stack_graph, subjects) == {}, stack_graph.stack


def _without_deployment_rule(github_graph: Graph, environment: str) -> Graph:
    """The GitHub graph with `environment`'s `main` deployment rule removed."""
    kept = tuple(
        r
        for r in github_graph.resources
        if not (
            r.type.endswith("RepositoryEnvironmentDeploymentPolicy")
            and r.inputs.get("environment") == environment
        )
    )
    return replace(github_graph, resources=kept)


def test_signing_environment_open_to_branches_puts_the_prod_signing_key_in_reach(
    graph_of, github_graph, repo_root
):
    # Given prod's signing environment loses its main-only deployment rule
    prod = graph_of("prod")
    signing = load_stack("prod", repo_root).github.signing_environment
    attacked = _without_deployment_rule(github_graph, signing)
    repository = _repository(prod, attacked, repo_root)
    assert signing not in repository.main_only_environments
    # When an attacker names it in their pull request's workflow
    reach = _forbidden_reach(prod, repository.attacker_subjects(_trusted(prod)))
    # Then the prod signing role, with its signing power, is within reach
    assert "sign" in reach.get("mlops-prod-gh-release", []), reach


def test_pull_request_job_naming_the_signing_environment_is_refused_while_it_is_main_only(
    graph_of, github_graph, repo_root
):
    # Given a pull-request job edited to run in prod's signing environment
    prod = graph_of("prod")
    signing = load_stack("prod", repo_root).github.signing_environment
    (train,) = [
        j
        for j in workflow_jobs(repo_root / ".github" / "workflows")
        if j.pull_request and j.oidc and j.workflow == "model-train.yml"
    ]
    attacked = replace(train, environments=(signing,))
    protected = main_only_environments(subjects_of(github_graph))
    unprotected = main_only_environments(
        subjects_of(_without_deployment_rule(github_graph, signing))
    )
    # Then GitHub refuses the run while the environment is main-only, and the signing
    # role is reached the moment it is not
    assert _forbidden_reach(prod, attacked.subjects(ORG, REPO, protected)) == {}
    assert "sign" in _forbidden_reach(prod, attacked.subjects(ORG, REPO, unprotected)).get(
        "mlops-prod-gh-release", []
    )


@pytest.mark.parametrize(
    ("job", "duty", "expected"),
    [
        ("sign", "signing", {"model-signing-dev", "model-signing-staging", "model-signing-prod"}),
        (
            "approve",
            "approval",
            {"model-approval-dev", "model-approval-staging", "model-approval-prod"},
        ),
    ],
)
def test_release_jobs_run_in_the_environments_the_stack_roles_trust(
    repo_root, graph_of, job, duty, expected
):
    # Given model-build.yml's job and, for each stack, the environment its role trusts
    (found,) = [
        j
        for j in workflow_jobs(repo_root / ".github" / "workflows")
        if j.workflow == "model-build.yml" and j.job == job
    ]
    trusted = {
        s.rsplit(":environment:", 1)[1]
        for stack in ("dev", "staging", "prod")
        for role in role_access(subjects_of(graph_of(stack)), stack)
        for s in role.trust.oidc_subjects
        if f":environment:model-{duty}-" in s
    }
    # Then the job runs on main only, in exactly those environments (a mismatch would make
    # the job fail to assume its role; a shared name would let one stack's reviewers sign
    # for another)
    assert not found.pull_request and found.oidc
    assert set(found.environments) == trusted == expected, (found.environments, trusted)
