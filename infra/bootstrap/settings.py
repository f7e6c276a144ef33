"""The bootstrap program's configuration, and who its infra role trusts.

The repository and the deploy environments are not configured here: they come from the
main stack files (`mlops:github` of each stack this account hosts), like infra/github.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from infra.config import STACKS, ConfigError, StackConfig, config_error, load_stack

PROJECT = "mlops-bootstrap"
STACK = "bootstrap"
PROGRAM_DIR = Path(__file__).resolve().parent
REPO_ROOT = PROGRAM_DIR.parent.parent


class BootstrapConfig(BaseModel):
    """Every `mlops-bootstrap:*` key of `infra/bootstrap/Pulumi.bootstrap.yaml`."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
    stacks: tuple[str, ...] = STACKS
    """The main stacks deployed into this account: the infra role trusts their deploy
    environments, and their state lives in this account's state bucket."""
    stacks_root: str | None = None
    """Directory holding `Pulumi.<stack>.yaml`; default: the repository this program is in."""
    key_deletion_window_days: Annotated[int, Field(ge=7, le=30)] = 30
    access_log_retention_days: Annotated[int, Field(ge=90, le=3650)] = 365
    noncurrent_version_expiration_days: Annotated[int, Field(ge=30, le=3650)] = 365
    """How long an overwritten state checkpoint stays recoverable."""

    @model_validator(mode="after")
    def _known_stacks(self) -> BootstrapConfig:
        unknown = [s for s in self.stacks if s not in STACKS]
        if unknown or not self.stacks or len(set(self.stacks)) != len(self.stacks):
            raise ValueError(
                f"stacks must be distinct names among {', '.join(STACKS)} "
                f"(found {list(self.stacks)})"
            )
        return self


@dataclass(frozen=True)
class AccountPlan:
    """What the account's infra role trusts, derived from the main stack files."""

    owner: str
    repository: str
    deploy_subjects: tuple[str, ...]
    """`repo:O/R:environment:<deployEnvironment>` of every stack of the account, sorted."""
    stacks: tuple[str, ...]


def plan_account(cfg: BootstrapConfig, stacks: Sequence[StackConfig]) -> AccountPlan:
    """One repository, one region: the state bucket's name carries the region, and the
    main stacks derive it from their own `aws:region`."""
    repositories = sorted({f"{s.github.org}/{s.github.repo}" for s in stacks})
    if len(repositories) != 1:
        raise ConfigError(
            f"mlops:github: the stacks name {len(repositories)} repositories "
            f"({', '.join(repositories)}); give every stack of the account the same org and repo"
        )
    strays = [f"{s.environment} ({s.region})" for s in stacks if s.region != cfg.region]
    if strays:
        raise ConfigError(
            f"aws:region: the bootstrap is in {cfg.region} but stacks {', '.join(strays)} are "
            "not; bootstrap each region's account separately (the state bucket is regional)"
        )
    owner, repository = repositories[0].split("/")
    subjects = sorted(
        {s.github.subject(f"environment:{s.github.deploy_environment}") for s in stacks}
    )
    return AccountPlan(owner, repository, tuple(subjects), tuple(s.environment for s in stacks))


def load_plan(cfg: BootstrapConfig) -> AccountPlan:
    """Read the main stack files (one-line `ConfigError` if one is invalid) and plan."""
    root = Path(cfg.stacks_root) if cfg.stacks_root else REPO_ROOT
    return plan_account(cfg, [load_stack(stack, root) for stack in cfg.stacks])


def parse_bootstrap_config(values: Mapping[str, Any]) -> BootstrapConfig:
    """Validate the flat Pulumi config (`aws:region`, `mlops-bootstrap:*`)."""
    data: dict[str, Any] = {}
    for full_key, value in values.items():
        namespace, _, key = full_key.partition(":")
        if namespace == PROJECT:
            data[key] = value
        elif namespace == "aws" and key == "region":
            data["region"] = value
        elif namespace not in ("aws", "pulumi"):
            raise ConfigError(f"{full_key}: unknown namespace {namespace!r}; use {PROJECT}:<key>")
    try:
        return BootstrapConfig.model_validate(data)
    except ValidationError as error:
        raise config_error(
            error, PROJECT, "infra/bootstrap/Pulumi.bootstrap.yaml", "infra/bootstrap/settings.py"
        ) from None
