"""The GitHub program's configuration, and the environments the main stacks need.

Environment names are not configured here: they come from the three main stack files
(`mlops:github` of each), so the IAM trust policies and the GitHub environments that
satisfy them are named in one place. This program's own stack file holds only what
GitHub alone knows: who reviews, and how `main` is protected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from infra import contracts
from infra.config import STACKS, ConfigError, StackConfig, config_error, load_stack

PROJECT = "mlops-github"
STACK = "github"
PROGRAM_DIR = Path(__file__).resolve().parent
REPO_ROOT = PROGRAM_DIR.parent.parent
MAIN_BRANCH = "main"
# GitHub accepts at most six required reviewers (teams and users together) per environment.
MAX_REVIEWERS = 6


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class Reviewers(_Model):
    """Who approves a job in a protected environment; one approval lets it proceed."""

    teams: tuple[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")], ...] = ()
    """Team slugs of the repository's organisation (at least read access to the repo)."""
    users: tuple[Annotated[str, Field(pattern=r"^[A-Za-z0-9](-?[A-Za-z0-9]){0,38}$")], ...] = ()
    """GitHub user logins."""

    @model_validator(mode="after")
    def _count(self) -> Reviewers:
        count = len(self.teams) + len(self.users)
        if not 1 <= count <= MAX_REVIEWERS:
            raise ValueError(
                f"reviewers must name 1 to {MAX_REVIEWERS} teams and users together "
                f"(found {count}); GitHub allows at most {MAX_REVIEWERS}"
            )
        return self


class MainBranch(_Model):
    """Branch protection of `main`: every environment deploys from it, so it is the gate."""

    required_approving_review_count: Annotated[int, Field(ge=1, le=6)] = 1
    required_status_checks: tuple[Annotated[str, Field(min_length=1)], ...] = Field(min_length=1)
    """Check names (workflow job names) that must pass before a pull request merges."""


class ReleaseBot(_Model):
    """The GitHub App that opens revert pull requests (a pull request opened with the
    workflow's own GITHUB_TOKEN starts no workflow, so it would never be verified)."""

    client_id: Annotated[str, Field(pattern=r"^Iv[0-9A-Za-z.]{4,40}$")]
    """The app's client ID (`Iv23li...`, on the app's settings page); not a secret. Declared
    as the repository variable the revert jobs read; the private key is set by hand."""


class GitHubProgramConfig(_Model):
    """Every `mlops-github:*` key of `infra/github/Pulumi.github.yaml`."""

    reviewers: Reviewers
    main_branch: MainBranch
    release_bot: ReleaseBot | None = None
    """Without it the revert jobs fail to mint a token; `mlops infra validate` says so."""
    stacks: tuple[str, ...] = STACKS
    """The main stacks whose environments this repository hosts."""
    stacks_root: str | None = None
    """Directory holding `Pulumi.<stack>.yaml`; default: the repository this program is in."""

    @model_validator(mode="after")
    def _known_stacks(self) -> GitHubProgramConfig:
        unknown = [s for s in self.stacks if s not in STACKS]
        if unknown or not self.stacks:
            raise ValueError(f"stacks must be some of {', '.join(STACKS)} (found {unknown})")
        return self


@dataclass(frozen=True)
class EnvironmentSpec:
    """One GitHub environment, and why it exists."""

    name: str
    duties: tuple[str, ...]
    """`<stack>:<duty>` for every stack role that trusts this environment's OIDC subject."""
    requires_reviewers: bool


@dataclass(frozen=True)
class RepositoryPlan:
    """What the program declares, derived from the main stacks: one repository's settings."""

    owner: str
    repository: str
    environments: tuple[EnvironmentSpec, ...]


def signing_environment(stack: StackConfig) -> str:
    """`github.signingEnvironment`; `model-signing-<env>` where the schema has no such key."""
    return getattr(
        stack.github, "signing_environment", contracts.signing_environment(stack.environment)
    )


def approval_environment(stack: StackConfig) -> str:
    """`github.approvalEnvironment`; `model-approval-<env>` where the schema has no such key."""
    return getattr(
        stack.github, "approval_environment", contracts.approval_environment(stack.environment)
    )


def plan_repository(stacks: Sequence[StackConfig]) -> RepositoryPlan:
    """The environments every stack needs, merged by name (a shared name needs what any
    of its users needs). Reviewers: prod's deploy, signing and promotion environments, every
    approval environment."""
    repositories = sorted({f"{s.github.org}/{s.github.repo}" for s in stacks})
    if len(repositories) != 1:
        raise ConfigError(
            f"mlops:github: the stacks name {len(repositories)} repositories "
            f"({', '.join(repositories)}); this program manages one: give every stack the "
            "same org and repo"
        )
    owner, repository = repositories[0].split("/")
    merged: dict[str, tuple[list[str], bool]] = {}
    for stack in stacks:
        prod = stack.environment == "prod"
        needs = [
            ("deploy", stack.github.deploy_environment, prod),
            ("sign", signing_environment(stack), prod),
            ("approve", approval_environment(stack), True),
        ]
        if stack.promotion is not None:
            # Promotion writes into the target's registry: reviewed where signing is.
            needs.append(("promote", stack.github.promotion_environment, prod))
        for duty, name, reviewed in needs:
            duties, required = merged.setdefault(name, ([], False))
            duties.append(f"{stack.environment}:{duty}")
            merged[name] = (duties, required or reviewed)
    environments = tuple(
        EnvironmentSpec(name, tuple(duties), required)
        for name, (duties, required) in merged.items()
    )
    # The revert jobs open a pull request as the release bot: its key, main only, no wait.
    bot = EnvironmentSpec(contracts.RELEASE_BOT_ENVIRONMENT, ("repository:open-revert",), False)
    return RepositoryPlan(owner, repository, (*environments, bot))


def parse_program_config(values: Mapping[str, Any]) -> GitHubProgramConfig:
    """Validate the flat Pulumi config (`mlops-github:*`) into a `GitHubProgramConfig`."""
    data: dict[str, Any] = {}
    for full_key, value in values.items():
        namespace, _, key = full_key.partition(":")
        if namespace == PROJECT:
            data[key] = value
        elif namespace not in ("github", "pulumi"):
            raise ConfigError(f"{full_key}: unknown namespace {namespace!r}; use {PROJECT}:<key>")
    try:
        return GitHubProgramConfig.model_validate(data)
    except ValidationError as error:
        raise config_error(
            error, PROJECT, "infra/github/Pulumi.github.yaml", "infra/github/settings.py"
        ) from None


def load_plan(cfg: GitHubProgramConfig) -> RepositoryPlan:
    """Read the main stack files (one-line `ConfigError` if one is invalid) and plan."""
    root = Path(cfg.stacks_root) if cfg.stacks_root else REPO_ROOT
    return plan_repository([load_stack(stack, root) for stack in cfg.stacks])
