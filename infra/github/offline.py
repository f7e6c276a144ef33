"""The GitHub program's offline graph: the real program under mocks that answer like GitHub.

Same runner and same graph shape as the main stacks (`infra.offline`), so the policy
harness and the audit read it the same way. Team and user lookups return stable fake ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks

from infra.config import ConfigError
from infra.github.settings import (
    PROJECT,
    STACK,
    GitHubProgramConfig,
    load_plan,
    parse_program_config,
)
from infra.offline import _short_hash, engine_config_from_file, run_program

STACK_FILE = Path("infra") / "github" / f"Pulumi.{STACK}.yaml"


def fake_id(kind: str, name: str) -> int:
    """A stable, GitHub-sized numeric id for a team or user looked up by name."""
    return 1_000_000 + int(_short_hash(kind, name, length=6), 16)


class GitHubLikeMocks(pulumi.runtime.Mocks):
    """Deterministic ids for lookups and resources, as the GitHub provider reports them."""

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:
        invoke = args.token
        if invoke == "github:index/getTeam:getTeam":
            slug = str(args.args.get("slug", ""))
            team_id = fake_id("team", slug)
            return {"id": str(team_id), "slug": slug, "name": slug, "nodeId": f"T_{team_id}"}
        if invoke == "github:index/getUser:getUser":
            login = str(args.args.get("username", ""))
            user_id = fake_id("user", login)
            return {"id": str(user_id), "login": login, "nodeId": f"U_{user_id}"}
        raise NotImplementedError(f"the offline graph has no mock for invoke {invoke}")

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
        if not args.custom:
            return "", {}
        inputs = dict(args.inputs)
        kind = args.typ.rsplit(":", 1)[-1]
        repository = str(inputs.get("repository") or inputs.get("repositoryId") or "")
        # The ids the provider imports them by.
        resource_id = {
            "RepositoryEnvironment": f"{repository}:{inputs.get('environment')}",
            "RepositoryEnvironmentDeploymentPolicy": (
                f"{repository}:{inputs.get('environment')}:{fake_id('policy', args.name)}"
            ),
            "ActionsRepositoryOidcSubjectClaimCustomizationTemplate": repository,
            "BranchProtection": f"BPR_{_short_hash(args.typ, args.name, length=12)}",
        }.get(kind, f"{args.name}-{_short_hash(args.typ, args.name, length=8)}")
        return resource_id, inputs


def stack_file(root: Path) -> Path:
    path = root / STACK_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: GitHub stack file not found; create it (docs/github.md)")
    return path


def program_config(root: Path) -> tuple[GitHubProgramConfig, dict[str, str], list[str]]:
    """The validated config of `root`'s GitHub stack file (main stacks read from `root`),
    and the engine config the program gets; raises a one-line `ConfigError`."""
    config, secret_keys = engine_config_from_file(stack_file(root), PROJECT)
    config.setdefault(f"{PROJECT}:stacksRoot", str(root))
    values = {key: json.loads(v) if v[:1] in "{[" else v for key, v in config.items()}
    return parse_program_config(values), config, secret_keys


def render_github_graph(root: Path) -> dict[str, Any]:
    """Render the GitHub program with `root`'s stack files; raises `ConfigError`."""
    cfg, config, secret_keys = program_config(root)
    load_plan(cfg)  # fail fast, with one line, before any Pulumi work
    resources = run_program("infra.github.__main__", GitHubLikeMocks(), PROJECT, STACK, config,
                            secret_keys)  # fmt: skip
    return {"stack": STACK, "project": PROJECT, "resources": resources}
