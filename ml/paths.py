"""Files shipped inside the `ml` package, named without importing what reads them.

The CLI shows these as option defaults in `--help`, which must not import pydantic's
models (tests/ml/cli/test_cli_startup.py); `ml.params` re-exports what it reads.
"""

from pathlib import Path

DEFAULT_PARAMS = Path(__file__).resolve().parent / "params.yaml"
"""The params file (hyperparameters, data snapshot, gates, drift thresholds)."""
