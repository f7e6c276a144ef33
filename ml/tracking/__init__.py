"""Experiment tracking: every training run becomes an MLflow run (docs/tracking.md).

`ml.tracking.runs` imports MLflow only inside its functions: MLflow takes seconds to
import, and the CLI must start fast (tests/ml/cli/test_cli_startup.py).
"""
