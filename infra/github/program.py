"""The GitHub program: the validated config, the environments the stacks need, declared."""

from __future__ import annotations

import pulumi
import pulumi_github as github

from infra.config import ConfigError
from infra.contracts import RELEASE_BOT_CLIENT_ID_VARIABLE
from infra.github.repository import EnvironmentArgs, GitHubRepository, GitHubRepositoryArgs
from infra.github.settings import GitHubProgramConfig, load_plan, parse_program_config
from infra.stack import engine_config


def require_config() -> GitHubProgramConfig:
    """The validated config, or a one-line `RunError` (Pulumi prints it without a traceback)."""
    try:
        return parse_program_config(engine_config())
    except ConfigError as error:
        raise pulumi.RunError(f"invalid GitHub config: {error}") from None


def declare(cfg: GitHubProgramConfig) -> None:
    """Declare the repository's environments, OIDC subject template and main protection."""
    try:
        plan = load_plan(cfg)
    except ConfigError as error:
        raise pulumi.RunError(f"invalid stack config: {error}") from None
    # The token comes from GITHUB_TOKEN; the owner from the stack files, like the IAM side.
    provider = github.Provider("github", owner=plan.owner)
    lookups = pulumi.InvokeOutputOptions(provider=provider)
    teams = [
        github.get_team_output(slug=slug, summary_only=True, opts=lookups).id.apply(int)
        for slug in cfg.reviewers.teams
    ]
    users = [
        github.get_user_output(username=login, opts=lookups).id.apply(int)
        for login in cfg.reviewers.users
    ]
    repository = GitHubRepository(
        plan.repository,
        GitHubRepositoryArgs(
            repository=plan.repository,
            environments=[
                EnvironmentArgs(spec.name, spec.requires_reviewers) for spec in plan.environments
            ],
            required_status_checks=cfg.main_branch.required_status_checks,
            reviewer_team_ids=teams,
            reviewer_user_ids=users,
            required_approving_review_count=cfg.main_branch.required_approving_review_count,
            variables={RELEASE_BOT_CLIENT_ID_VARIABLE: cfg.release_bot.client_id}
            if cfg.release_bot
            else None,
        ),
        opts=pulumi.ResourceOptions(providers=[provider]),
    )
    pulumi.export("repository", f"{plan.owner}/{plan.repository}")
    pulumi.export("environments", repository.environment_names)
    pulumi.export("duties", {spec.name: list(spec.duties) for spec in plan.environments})
