"""Read the running stack's configuration from the Pulumi engine and validate it once."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from infra.config import ConfigError, StackConfig, parse_stack_config


def engine_config() -> dict[str, Any]:
    """Every config key the engine passed to this program, structured values decoded.

    Pulumi hands structured values to the program as JSON strings; we decode them so
    one pydantic schema sees exactly what the stack file says, typos included.
    """
    merged: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    decoded: dict[str, Any] = {}
    for key, value in merged.items():
        if isinstance(value, str) and value[:1] in "{[":
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        decoded[key] = value
    return decoded


def require_stack_config() -> StackConfig:
    """The validated config, or a one-line `RunError` (Pulumi prints it without a traceback)."""
    try:
        return parse_stack_config(engine_config())
    except ConfigError as error:
        raise pulumi.RunError(f"invalid stack config: {error}") from None
