"""Drift: exact, fast KS / PSI / chi-square per feature, readers for CSV and SageMaker
data capture, and reports.

- `ml.drift.detect.detect_drift(reference_columns, current_columns, categorical_counts, thresholds)`
- `ml.drift.detect.detect_drift_frames(reference_df, current_df, categorical, thresholds)`
- `ml.drift.readers.load_pair(reference_path, current_path, categorical, exclude)`
- `ml.drift.report.write_drift_reports(out_dir, result, reference, current)`
"""
