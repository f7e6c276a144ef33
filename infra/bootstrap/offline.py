"""The bootstrap program's offline graph: the real program under the main stacks' mocks.

Same runner, same mocks (`infra.offline`) and same graph shape as the main stacks, so the
policy pack and the audit read it the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra.bootstrap.settings import (
    PROJECT,
    STACK,
    BootstrapConfig,
    load_plan,
    parse_bootstrap_config,
)
from infra.config import ConfigError
from infra.offline import AwsLikeMocks, engine_config_from_file, run_program

STACK_FILE = Path("infra") / "bootstrap" / f"Pulumi.{STACK}.yaml"


def program_config(root: Path) -> tuple[BootstrapConfig, dict[str, str], list[str]]:
    """The validated config of `root`'s bootstrap stack file (main stacks read from `root`)."""
    path = root / STACK_FILE
    if not path.is_file():
        raise ConfigError(
            f"{path}: bootstrap stack file not found; create it (docs/from-demo-to-aws.md)"
        )
    config, secret_keys = engine_config_from_file(path, PROJECT)
    config.setdefault(f"{PROJECT}:stacksRoot", str(root))
    values = {key: json.loads(v) if v[:1] in "{[" else v for key, v in config.items()}
    return parse_bootstrap_config(values), config, secret_keys


def render_bootstrap_graph(root: Path) -> dict[str, Any]:
    """Render the bootstrap program with `root`'s stack files; raises `ConfigError`."""
    cfg, config, secret_keys = program_config(root)
    load_plan(cfg)  # fail fast, with one line, before any Pulumi work
    resources = run_program(
        "infra.bootstrap.__main__", AwsLikeMocks(region=cfg.region), PROJECT, STACK, config,
        secret_keys,
    )  # fmt: skip
    return {"stack": STACK, "project": PROJECT, "resources": resources}
