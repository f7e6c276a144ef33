"""infra/github: the repository's environments, as the real program declares them offline.

The GitHub graph is the program run under mocks with the shipped stack files; the other
side of each seam is read as it is: the main stacks' rendered trust policies, ci.yml.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.config import ConfigError
from infra.github.offline import render_github_graph
from infra.graph import Graph, Resource

ENVIRONMENT = "github:index/repositoryEnvironment:RepositoryEnvironment"
DEPLOYMENT_POLICY = (
    "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
)
# The mocks' id for team `ml-release-managers` (infra.github.offline.fake_id), the team
# infra/github/Pulumi.github.yaml names as reviewers.
RELEASE_MANAGERS_TEAM_ID = 10042596
# Signing environments: the shared `model-signing` until infra/config.py's default
# becomes per stack (github.signingEnvironment), then one per stack.
SIGNING = ({"model-signing"}, {"model-signing-dev", "model-signing-staging", "model-signing-prod"})


@pytest.fixture(scope="module")
def github_graph(repo_root: Path) -> Graph:
    return Graph.from_json(render_github_graph(repo_root))


def _environments(graph: Graph) -> dict[str, Resource]:
    return {r.inputs["environment"]: r for r in graph.of_type(ENVIRONMENT)}


def _branch_rules(graph: Graph, environment: str) -> list[str]:
    return [
        r.inputs.get("branchPattern") or f"tag:{r.inputs.get('tagPattern')}"
        for r in graph.of_type(DEPLOYMENT_POLICY)
        if r.inputs["environment"] == environment
    ]


def test_render_github_shipped_stacks_declare_deploy_signing_and_approval_environments(
    github_graph: Graph,
) -> None:
    # Given the shipped stack files / When the GitHub program is rendered
    names = set(_environments(github_graph))
    # Then each stack has its deploy and approval environment, and signing environment(s)
    expected = {"dev", "staging", "prod", "model-approval-dev", "model-approval-staging",
                "model-approval-prod", "release-bot",
                "model-promotion-prod"}  # fmt: skip
    assert expected <= names, f"missing environments: {expected - names}"
    assert names - expected in SIGNING, f"unexpected signing environments: {names - expected}"
    repositories = {r.inputs["repository"] for r in github_graph.of_type(ENVIRONMENT)}
    assert repositories == {"mlops-gitops"}, repositories


def test_render_github_every_environment_admits_main_only(github_graph: Graph) -> None:
    # Given every environment the program declares (each hands out an AWS role)
    for name, environment in _environments(github_graph).items():
        # Then only custom branch rules apply, the only one is `main`, and no admin bypass
        assert environment.inputs["deploymentBranchPolicy"] == {
            "protectedBranches": False,
            "customBranchPolicies": True,
        }, f"{name}: {environment.inputs.get('deploymentBranchPolicy')}"
        assert _branch_rules(github_graph, name) == ["main"], name
        assert environment.inputs["canAdminsBypass"] is False, f"{name}: admins may bypass"


def test_render_github_prod_signing_and_approval_require_release_managers(
    github_graph: Graph,
) -> None:
    environments = _environments(github_graph)
    signing = {n for n in environments if n.startswith("model-signing")}
    protected = {"prod", "model-approval-dev", "model-approval-staging", "model-approval-prod"}
    prod_signing = signing & {"model-signing", "model-signing-prod"}
    # Then prod, prod's signing environment and every approval environment wait for the team
    for name in protected | prod_signing:
        inputs = environments[name].inputs
        assert inputs.get("reviewers") == [{"teams": [RELEASE_MANAGERS_TEAM_ID], "users": []}], (
            f"{name}: reviewers {inputs.get('reviewers')}"
        )
        assert inputs.get("preventSelfReview") is True, f"{name}: the triggering user may approve"
    # And dev and staging deploy without waiting
    for name in ("dev", "staging"):
        assert "reviewers" not in environments[name].inputs, f"{name} should not wait for review"


def test_render_github_oidc_subject_template_keeps_the_default_format(github_graph: Graph) -> None:
    (template,) = github_graph.of_type(
        "github:index/actionsRepositoryOidcSubjectClaimCustomizationTemplate:"
        "ActionsRepositoryOidcSubjectClaimCustomizationTemplate"
    )
    assert template.inputs == {"repository": "mlops-gitops", "useDefault": True}, template.inputs


def test_render_github_provider_owner_is_the_stacks_org(github_graph: Graph) -> None:
    (provider,) = github_graph.of_type("pulumi:providers:github")
    assert provider.inputs["owner"] == "acme", provider.inputs


def test_render_github_main_protection_requires_the_ci_jobs_of_ci_yml(
    github_graph: Graph, repo_root: Path
) -> None:
    # Given the protection of main and the CI workflow as it is
    (protection,) = github_graph.of_type("github:index/branchProtection:BranchProtection")
    workflow = yaml.safe_load((repo_root / ".github/workflows/ci.yml").read_text())
    job_names = {job.get("name", key) for key, job in workflow["jobs"].items()}
    inputs = protection.inputs
    # Then main takes reviewed pull requests whose CI checks (real ci.yml jobs) passed
    assert inputs["pattern"] == "main" and inputs["repositoryId"] == "mlops-gitops", inputs
    assert inputs["requiredPullRequestReviews"][0]["requiredApprovingReviewCount"] == 1, inputs
    contexts = inputs["requiredStatusChecks"][0]["contexts"]
    assert contexts == [
        "lint (ruff, actionlint, zizmor)",
        "test (all, slow included)",
        "base pack on the pull request's graphs",
    ], contexts
    assert set(contexts) <= job_names, f"checks no ci.yml job reports: {set(contexts) - job_names}"
    assert inputs["allowsForcePushes"] is False and inputs["allowsDeletions"] is False, inputs
    assert inputs["enforceAdmins"] is True, "admins must follow main's rules"


def test_render_github_declares_every_environment_the_iam_roles_trust(
    github_graph: Graph, stack_graph: Graph
) -> None:
    # Given a main stack's rendered role trust policies, read as they are
    trusted = set()
    for role in stack_graph.of_type("aws:iam/role:Role"):
        for statement in json.loads(role.inputs["assumeRolePolicy"])["Statement"]:
            for block in (statement.get("Condition") or {}).values():
                value = block.get("token.actions.githubusercontent.com:sub", [])
                values = [value] if isinstance(value, str) else value
                trusted |= {v.split(":environment:")[1] for v in values if ":environment:" in v}
    # Then each environment a role trusts exists in the GitHub graph
    assert trusted, f"{stack_graph.stack}: no role trusts a GitHub environment"
    missing = trusted - set(_environments(github_graph))
    assert not missing, f"{stack_graph.stack}: roles trust undeclared environments {missing}"


def _copy_repo(repo_root: Path, tmp_path: Path) -> Path:
    for stack in ("dev", "staging", "prod"):
        shutil.copy(repo_root / f"Pulumi.{stack}.yaml", tmp_path)
    (tmp_path / "infra/github").mkdir(parents=True)
    shutil.copy(repo_root / "infra/github/Pulumi.github.yaml", tmp_path / "infra/github")
    return tmp_path


def _edit(path: Path, edit) -> None:
    document = yaml.safe_load(path.read_text())
    edit(document["config"])
    path.write_text(yaml.safe_dump(document))


def _render_error(root: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        render_github_graph(root)
    return str(caught.value)


def test_render_github_misspelt_key_is_one_line(repo_root: Path, tmp_path: Path) -> None:
    root = _copy_repo(repo_root, tmp_path)
    typo = {"mlops-github:reviewer": {"teams": ["ml-release-managers"]}}
    _edit(root / "infra/github/Pulumi.github.yaml",
          lambda c: c.update(typo) or c.pop("mlops-github:reviewers"))  # fmt: skip
    assert _render_error(root) == (
        "mlops-github:reviewer: unknown key; check the spelling "
        "(allowed keys: infra/github/settings.py)"
    )


def test_render_github_no_reviewers_is_refused(repo_root: Path, tmp_path: Path) -> None:
    root = _copy_repo(repo_root, tmp_path)
    _edit(root / "infra/github/Pulumi.github.yaml",
          lambda c: c.update({"mlops-github:reviewers": {"teams": []}}))  # fmt: skip
    message = _render_error(root)
    assert message.startswith("mlops-github:reviewers: reviewers must name 1 to 6"), message


def test_render_github_stacks_naming_two_repositories_is_refused(
    repo_root: Path, tmp_path: Path
) -> None:
    root = _copy_repo(repo_root, tmp_path)
    _edit(root / "Pulumi.dev.yaml", lambda c: c["mlops:github"].update({"repo": "fork"}))
    message = _render_error(root)
    assert "2 repositories (acme/fork, acme/mlops-gitops)" in message, message


def test_cli_render_github_bad_config_prints_one_line_and_exits_2(
    repo_root: Path, tmp_path: Path
) -> None:
    # Given a GitHub stack file with a reviewer login GitHub cannot have
    root = _copy_repo(repo_root, tmp_path)
    _edit(root / "infra/github/Pulumi.github.yaml",
          lambda c: c.update({"mlops-github:reviewers": {"users": ["-bad-"]}}))  # fmt: skip
    # When the CLI renders it
    result = subprocess.run(
        [str(Path(sys.executable).with_name("mlops")), "infra", "render", "--program", "github",
         "--root", str(root), "--out", str(tmp_path / "g.json")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    # Then one line names the key and the value, with exit code 2 and no traceback
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    expected = 'error: mlops-github:reviewers.users.0: invalid value "-bad-"'
    assert lines[0].startswith(expected), lines


def test_cli_validate_github_passes_on_the_shipped_files(repo_root: Path) -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("mlops")), "infra", "validate", "--program", "github"],
        cwd=repo_root, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "github: config is valid (acme/mlops-gitops" in result.stdout, result.stdout


def test_render_github_release_bot_environment_is_main_only_without_reviewers(
    github_graph: Graph,
) -> None:
    # Given the environment holding the release bot's key (the revert jobs enter it)
    bot = _environments(github_graph)["release-bot"]
    # Then main alone may read the key, and a revert opens without waiting for a person
    assert _branch_rules(github_graph, "release-bot") == ["main"]
    assert "reviewers" not in bot.inputs, "a revert after a rollback must not wait for review"


def test_render_github_declares_the_release_bot_client_id_variable(github_graph: Graph) -> None:
    # Given the shipped GitHub stack file's releaseBot.clientId
    (variable,) = github_graph.of_type("github:index/actionsVariable:ActionsVariable")
    # Then it is the repository variable the revert jobs of model-release.yml read
    assert variable.inputs["variableName"] == "RELEASE_BOT_CLIENT_ID", variable.inputs
    assert variable.inputs["value"] == "Iv23liREPLACEME0000", variable.inputs
    assert variable.inputs["repository"] == "mlops-gitops", variable.inputs


def test_render_github_release_bot_client_id_that_is_not_one_is_refused(
    repo_root: Path, tmp_path: Path
) -> None:
    root = _copy_repo(repo_root, tmp_path)
    _edit(root / "infra/github/Pulumi.github.yaml",
          lambda c: c.update({"mlops-github:releaseBot": {"clientId": "12345"}}))  # fmt: skip
    message = _render_error(root)
    assert message.startswith('mlops-github:releaseBot.clientId: invalid value "12345"'), message
