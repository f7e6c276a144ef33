"""Validation: metrics on held-out data, release gates against production, reports.

- `ml.metrics`: accuracy, ROC AUC, log loss, single-row latency (numpy).
- `ml.validation.gates.evaluate_gates`: per-metric tolerances, latency bound, drift.
- `ml.validation.run.validate`: the command's logic; `ml.validation.report`: its reports.
"""
