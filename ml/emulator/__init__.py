"""The embedded AWS emulator (moto) with the project's fixes for moto's gaps.

- `Emulator`: moto's server in this process on a loopback port (`mlops emulator`).
- `bootstrap_stack(graph, kms=, s3=, sagemaker=, iam=)`: a stack's keys, buckets (with
  the graph's bucket policies), model package groups and IAM roles (with their trust
  and inline policies), created in the emulator.
- `credentials_for(stack, duty, sts)`: a session of the role that does a duty.
- `patches`: every fix for a moto gap, in one module.
- `training`: training jobs that run the entry point as the job (`Emulator.training`).

The names are imported on first use (PEP 562), not with the package: `mlops emulator`
shows its default region in `--help` without loading moto.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml.emulator.bootstrap import EmulatedStack, bootstrap_stack
    from ml.emulator.identities import DUTY_ROLES, RoleCredentials, credentials_for
    from ml.emulator.server import Emulator, emulated_environment

_HOMES = {
    "EmulatedStack": "bootstrap",
    "bootstrap_stack": "bootstrap",
    "DUTY_ROLES": "identities",
    "RoleCredentials": "identities",
    "credentials_for": "identities",
    "Emulator": "server",
    "emulated_environment": "server",
}

__all__ = [
    "DUTY_ROLES",
    "EmulatedStack",
    "Emulator",
    "RoleCredentials",
    "bootstrap_stack",
    "credentials_for",
    "emulated_environment",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
