"""Drift benchmark: our KS + PSI against the per-column `scipy.stats.ks_2samp` loop.

Data: a reference and a current sample of 1,000,000 rows each, 50 numeric features
(normal, log-normal, discrete counts, a few shifted or rescaled in the current sample)
and 3 categorical ones, generated in place column by column (no temporaries), as
float64 columns; the "input arrays" are the two numeric matrices (800 MB).

Measured in one process, in this order:

1. ours: `ml.drift.detect.detect_drift` over the 50 numeric features (KS statistic and
   p-value, PSI, histograms) and, separately, with the 3 categoricals (chi-square);
2. peak RSS so far (the high-water mark includes the inputs) against the inputs' size;
3. the reference: `scipy.stats.ks_2samp(ref[:, j], cur[:, j])` for every numeric column,
   and the largest difference of its statistics and p-values from ours;
4. reading the same data from a CSV file (1,000,000 rows, header) with our reader, to
   compare reading time with computing time.

Bars (issue 5): ours under 2 s for all 50 features, at least 10x faster than the scipy
loop, statistics and p-values equal to scipy's to 1e-9, peak RSS under 3x the inputs.

Run alone: `python -m benchmarks.drift [--rows N] [--features K] [--no-csv] [--strict]`.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import parser_for, publish

TIME_BAR_S = 2.0
RATIO_BAR = 10.0
RSS_BAR = 3.0
MATCH_BAR = 1e-9


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def make_inputs(rows: int, features: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Two (rows, features) float64 matrices in column-major order, filled in place."""
    rng = np.random.default_rng(seed)
    reference = np.empty((rows, features), dtype=np.float64, order="F")
    current = np.empty((rows, features), dtype=np.float64, order="F")
    for j in range(features):
        for matrix, drifted in ((reference, False), (current, True)):
            column = matrix[:, j]
            kind = j % 5
            if kind in (0, 1):
                rng.standard_normal(out=column)
            elif kind == 2:
                rng.standard_normal(out=column)
                np.exp(column, out=column)
            elif kind == 3:
                column[:] = rng.poisson(3.0, size=rows)  # discrete: many ties
            else:
                rng.random(out=column)
            if drifted and j % 10 == 0:
                column += 0.05  # a small shift in every tenth feature
            if drifted and j % 10 == 5:
                column *= 1.3
    return reference, current


def make_categories(rows: int, seed: int = 11) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    ref = [rng.integers(0, k, size=rows) for k in (3, 5, 12)]
    cur = [rng.integers(0, k, size=rows) for k in (3, 5, 12)]
    cur[2][: rows // 50] = 0  # one category over-represented
    return ref, cur


def time_ours(reference: np.ndarray, current: np.ndarray, categorical) -> dict[str, Any]:
    import polars as pl

    from ml.drift.detect import category_counts, detect_drift

    names = [f"x{j:02d}" for j in range(reference.shape[1])]
    ref_cols = {n: reference[:, j] for j, n in enumerate(names)}
    cur_cols = {n: current[:, j] for j, n in enumerate(names)}
    detect_drift({names[0]: ref_cols[names[0]][:1000]}, {names[0]: cur_cols[names[0]][:1000]})
    started, cpu = time.perf_counter(), time.process_time()
    numeric = detect_drift(ref_cols, cur_cols)
    numeric_s = time.perf_counter() - started
    numeric_cpu = time.process_time() - cpu
    started = time.perf_counter()
    counts = {
        f"c{i}": (category_counts(pl.Series(f"c{i}", r)), category_counts(pl.Series(f"c{i}", c)))
        for i, (r, c) in enumerate(zip(*categorical, strict=True))
    }
    full = detect_drift(ref_cols, cur_cols, counts)
    full_s = time.perf_counter() - started
    return {
        "result": numeric,
        "numeric_seconds": numeric_s,
        "numeric_cpu_seconds": numeric_cpu,
        "all_seconds": full_s,
        "full": full,
    }


def time_scipy(reference: np.ndarray, current: np.ndarray) -> tuple[float, list[Any]]:
    from scipy import stats

    started = time.perf_counter()
    results = [stats.ks_2samp(reference[:, j], current[:, j]) for j in range(reference.shape[1])]
    return time.perf_counter() - started, results


def time_csv(
    reference: np.ndarray, categorical: list[np.ndarray], directory: Path
) -> dict[str, Any]:
    import polars as pl

    from ml.drift.readers import read_csv

    frame = pl.DataFrame(
        {
            **{f"x{j:02d}": reference[:, j] for j in range(reference.shape[1])},
            **{f"c{i}": c for i, c in enumerate(categorical)},
        }
    )
    path = directory / "reference.csv"
    frame.write_csv(path, float_precision=6)
    del frame
    dtypes = {
        **{f"x{j:02d}": pl.Float64() for j in range(reference.shape[1])},
        **{f"c{i}": pl.Int64() for i in range(len(categorical))},
    }
    started = time.perf_counter()
    loaded = read_csv(path, dtypes)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "bytes": path.stat().st_size,
        "rows": loaded.height,
        "columns": loaded.width,
    }


def run(rows: int, features: int, csv: bool) -> dict[str, Any]:
    reference, current = make_inputs(rows, features)
    categorical = make_categories(rows)
    input_bytes = reference.nbytes + current.nbytes
    ours = time_ours(reference, current, categorical)
    peak = peak_rss_bytes()
    scipy_seconds, reference_results = time_scipy(reference, current)
    result = ours["result"]
    names = list(result.features)
    d_diff = max(
        abs(result.features[n].ks.statistic - r.statistic)
        for n, r in zip(names, reference_results, strict=True)
    )
    p_diff = max(
        abs(result.features[n].ks.pvalue - r.pvalue)
        for n, r in zip(names, reference_results, strict=True)
    )
    report: dict[str, Any] = {
        "rows": rows,
        "numeric_features": features,
        "categorical_features": len(categorical[0]),
        "ours_numeric_seconds": round(ours["numeric_seconds"], 3),
        "ours_numeric_cpu_seconds": round(ours["numeric_cpu_seconds"], 3),
        "ours_all_features_seconds": round(ours["all_seconds"], 3),
        "load_average": round(os.getloadavg()[0], 2),
        "scipy_ks_loop_seconds": round(scipy_seconds, 3),
        "ratio": round(scipy_seconds / ours["numeric_seconds"], 1),
        "max_abs_statistic_diff": float(d_diff),
        "max_abs_pvalue_diff": float(p_diff),
        "input_bytes": input_bytes,
        "peak_rss_bytes": peak,
        "rss_ratio": round(peak / input_bytes, 2),
        "drifted_features": len(ours["full"].drifted),
    }
    if csv:
        with tempfile.TemporaryDirectory(prefix="mlops-bench-drift-") as directory:
            report["csv_read"] = time_csv(reference, categorical[0], Path(directory))
    report["bars"] = {
        "time_under_2s": bool(report["ours_numeric_seconds"] < TIME_BAR_S),
        "ratio_at_least_10x": bool(report["ratio"] >= RATIO_BAR),
        "matches_scipy_1e-9": bool(d_diff <= MATCH_BAR and p_diff <= MATCH_BAR),
        "rss_under_3x_inputs": bool(report["rss_ratio"] < RSS_BAR),
    }
    report["bars"]["met"] = all(report["bars"].values())
    return report


def render(r: dict[str, Any]) -> str:
    ok = {True: "ok", False: "MISSED"}
    bars = r["bars"]
    lines = [
        f"drift benchmark: {r['rows']:,} rows x {r['numeric_features']} numeric + "
        f"{r['categorical_features']} categorical features (reference and current)",
        f"ours, KS + PSI over {r['numeric_features']} numeric features: "
        f"{r['ours_numeric_seconds']:.3f} s wall, {r['ours_numeric_cpu_seconds']:.3f} s CPU "
        f"(bar < {TIME_BAR_S:g} s: {ok[bars['time_under_2s']]})",
        f"ours, all features incl. chi-square:            {r['ours_all_features_seconds']:.3f} s",
        f"scipy.stats.ks_2samp, one call per column:      {r['scipy_ks_loop_seconds']:.3f} s",
        f"ratio: {r['ratio']:.1f}x faster "
        f"(bar >= {RATIO_BAR:g}x: {ok[bars['ratio_at_least_10x']]})",
        f"max |statistic - scipy| = {r['max_abs_statistic_diff']:.1e}, max |p-value - scipy| = "
        f"{r['max_abs_pvalue_diff']:.1e} (bar <= 1e-9: {ok[bars['matches_scipy_1e-9']]})",
        f"peak RSS {r['peak_rss_bytes'] / 1e9:.2f} GB = {r['rss_ratio']:.2f}x the input arrays "
        f"({r['input_bytes'] / 1e9:.2f} GB) "
        f"(bar < {RSS_BAR:g}x: {ok[bars['rss_under_3x_inputs']]})",
        f"features flagged as drifted: {r['drifted_features']}; machine load average "
        f"{r['load_average']} on {os.cpu_count()} CPUs (other work slows both sides)",
    ]
    if "csv_read" in r:
        c = r["csv_read"]
        lines.append(
            f"reading the reference from CSV ({c['rows']:,} rows x {c['columns']} columns, "
            f"{c['bytes'] / 1e6:.0f} MB): {c['seconds']:.3f} s"
        )
    lines.append("bars met" if bars["met"] else "BARS NOT MET")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for("drift", __doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="Rows per sample.")
    parser.add_argument("--features", type=int, default=50, help="Numeric features.")
    parser.add_argument("--no-csv", action="store_true", help="Skip the CSV reading measurement.")
    args = parser.parse_args(argv)
    report = run(args.rows, args.features, not args.no_csv)
    return publish(report, render, args)


if __name__ == "__main__":
    sys.exit(main())
