"""The embedded AWS emulator (moto) with the project's fixes for moto's gaps.

- `Emulator`: moto's server in this process on a loopback port (`mlops emulator`).
- `bootstrap_stack(graph, kms=, s3=, sagemaker=)`: a stack's keys, buckets (with the
  graph's bucket policies) and model package groups, created in the emulator.
- `patches`: every fix for a moto gap, in one module.
"""

from ml.emulator.bootstrap import EmulatedStack, bootstrap_stack
from ml.emulator.server import Emulator, emulated_environment

__all__ = ["EmulatedStack", "Emulator", "bootstrap_stack", "emulated_environment"]
