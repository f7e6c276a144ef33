"""GitHubRepository: the repository settings the AWS trust policies rely on.

An IAM role that trusts `repo:O/R:environment:E` is only as strong as environment E:
who may start a job in it (main only), who must approve that job (reviewers, never the
person who triggered it, no admin bypass), and the subject format GitHub puts in the OIDC
token. `main` itself is protected, because every environment deploys from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_github as github


@dataclass(frozen=True)
class EnvironmentArgs:
    name: str
    """The environment name, as the IAM trust policies spell it in the OIDC subject."""
    requires_reviewers: bool
    """Whether a job waits for one of the reviewers before it gets the environment."""


@dataclass(frozen=True)
class GitHubRepositoryArgs:
    repository: str
    """Repository name (the owner is the provider's)."""
    environments: Sequence[EnvironmentArgs]
    required_status_checks: Sequence[str]
    """Checks (workflow job names) that must pass before a pull request merges to main."""
    reviewer_team_ids: Sequence[pulumi.Input[int]] = ()
    reviewer_user_ids: Sequence[pulumi.Input[int]] = ()
    deploy_branch: str = "main"
    """The only branch whose jobs may enter an environment; it is also the protected one."""
    required_approving_review_count: int = 1
    variables: Mapping[str, str] | None = None
    """Repository Actions variables (not secrets), e.g. the release bot's client ID."""


class GitHubRepository(pulumi.ComponentResource):
    """Main-only, reviewed environments, the default OIDC subject, and a protected main."""

    environment_names: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: GitHubRepositoryArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("mlops:repository:GitHubRepository", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        checks = [{"strict": True, "contexts": list(args.required_status_checks)}]
        reviewers = [{"teams": list(args.reviewer_team_ids), "users": list(args.reviewer_user_ids)}]
        environments = []
        for spec in args.environments:
            protected = spec.requires_reviewers
            environment = github.RepositoryEnvironment(
                f"{name}-env-{spec.name}",
                repository=args.repository,
                environment=spec.name,
                # Only branches matching a custom policy (main, below) may deploy; an admin
                # may not bypass that, nor the reviewers.
                deployment_branch_policy={
                    "protected_branches": False,
                    "custom_branch_policies": True,
                },
                can_admins_bypass=False,
                reviewers=reviewers if protected else None,
                prevent_self_review=True if protected else None,
                opts=child,
            )
            github.RepositoryEnvironmentDeploymentPolicy(
                f"{name}-env-{spec.name}-{args.deploy_branch}",
                repository=args.repository,
                environment=environment.environment,
                branch_pattern=args.deploy_branch,
                opts=child,
            )
            environments.append(environment)
        # `repo:O/R:environment:E` / `repo:O/R:ref:refs/heads/main` / `repo:O/R:pull_request`
        # is the default format; the roles' `sub` conditions are written against it.
        github.ActionsRepositoryOidcSubjectClaimCustomizationTemplate(
            f"{name}-oidc-subject",
            repository=args.repository,
            use_default=True,
            opts=child,
        )
        github.BranchProtection(
            f"{name}-{args.deploy_branch}-protection",
            repository_id=args.repository,
            pattern=args.deploy_branch,
            enforce_admins=True,
            allows_force_pushes=False,
            allows_deletions=False,
            require_conversation_resolution=True,
            required_pull_request_reviews=[
                {
                    "required_approving_review_count": args.required_approving_review_count,
                    "dismiss_stale_reviews": True,
                    "require_last_push_approval": True,
                    # .github/CODEOWNERS: the guardrails' owners approve changes to them
                    "require_code_owner_reviews": True,
                }
            ],
            required_status_checks=checks,
            opts=child,
        )
        for variable, value in (args.variables or {}).items():
            github.ActionsVariable(
                f"{name}-var-{variable}",
                repository=args.repository,
                variable_name=variable,
                value=value,
                opts=child,
            )
        self.environment_names = pulumi.Output.all(*[e.environment for e in environments])
        self.register_outputs({"environmentNames": self.environment_names})
