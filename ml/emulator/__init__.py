"""The embedded AWS emulator (moto) with the project's fixes for moto's gaps.

- `Emulator`: moto's server in this process on a loopback port (`mlops emulator`).
- `bootstrap_stack(graph, kms=, s3=, sagemaker=, iam=)`: a stack's keys, buckets (with
  the graph's bucket policies), model package groups and IAM roles (with their trust
  and inline policies), created in the emulator.
- `credentials_for(stack, duty, sts)`: a session of the role that does a duty.
- `patches`: every fix for a moto gap, in one module.
- `training`: training jobs that run the entry point as the job (`Emulator.training`).
"""

from ml.emulator.bootstrap import EmulatedStack, bootstrap_stack
from ml.emulator.identities import DUTY_ROLES, RoleCredentials, credentials_for
from ml.emulator.server import Emulator, emulated_environment

__all__ = [
    "DUTY_ROLES",
    "EmulatedStack",
    "Emulator",
    "RoleCredentials",
    "bootstrap_stack",
    "credentials_for",
    "emulated_environment",
]
