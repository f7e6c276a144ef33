"""External commands (git, gh, docker, podman) run one way: stdout back, one line on failure.

Callers take a `Runner` parameter defaulting to `run_command`, so tests pass a fake that
records the command lines instead of starting processes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence

from common.errors import MlopsError

Runner = Callable[[Sequence[str], str | None], str]
"""Runs a command with optional stdin and returns its stdout; MlopsError if it fails."""


def run_command(args: Sequence[str], stdin: str | None = None) -> str:
    """The default runner: the real command, its stderr's last line on failure."""
    try:
        result = subprocess.run(
            list(args), input=stdin, capture_output=True, text=True, check=False, timeout=300
        )
    except FileNotFoundError:
        raise MlopsError(f"{args[0]}: command not found (install it or run in CI)") from None
    except subprocess.TimeoutExpired:
        raise MlopsError(f"{' '.join(args[:3])}: timed out") from None
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        last = lines[-1] if lines else f"exit code {result.returncode}"
        raise MlopsError(f"{' '.join(args[:3])} failed: {last}", exit_code=1)
    return result.stdout
