"""`mlops drift` end to end, as a process, against what a user would write instead.

For each size (300,000 rows x 40 features and 1,000,000 x 50 by default) a reference and a
current CSV file are written (numeric features of five kinds, every tenth shifted, every
tenth-plus-five rescaled, six decimals), then, each as a fresh process with its cold start:

1. `mlops drift --reference ref.csv --current cur.csv --out DIR` (reports included);
2. `mlops drift --write-reference-stats` once, then the same `mlops drift` again: what the
   scheduled monitor runs while the reference is unchanged (the stored sorted reference);
3. the naive script: `pandas.read_csv` of both files and `scipy.stats.ks_2samp` per column.

Printed and written to build/bench/drift_cli.json: wall seconds and peak RSS of each
process, the ratios naive / ours (wall, and CPU, which other work on the machine
disturbs less), the largest difference between the KS statistics and
p-values in drift.json and scipy's, and the load average around each size (other work
on the machine slows every side).

Bars (issue 18): ours at least 3x faster than the naive script at every size (both with
and without stored reference statistics), statistics equal to scipy's to 1e-9.

Run alone: `python -m benchmarks.drift_cli [--sizes 300000x40 1000000x50] [--strict]`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import MLOPS, parser_for, publish, timed

RATIO_BAR = 3.0
MATCH_BAR = 1e-9

NAIVE = """
import json, sys
import pandas as pd
from scipy import stats
reference, current = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
results = {c: stats.ks_2samp(reference[c], current[c]) for c in reference.columns}
json.dump({c: [float(r.statistic), float(r.pvalue)] for c, r in results.items()},
          open(sys.argv[3], "w"))
"""


def write_pair(directory: Path, rows: int, features: int) -> tuple[Path, Path]:
    """Two CSV files of `rows` x `features`, written one block of columns at a time."""
    import polars as pl

    from benchmarks.drift import make_inputs

    reference, current = make_inputs(rows, features)
    paths = []
    for name, matrix in (("reference", reference), ("current", current)):
        frame = pl.DataFrame({f"x{j:02d}": matrix[:, j] for j in range(features)})
        path = directory / f"{name}.csv"
        frame.write_csv(path, float_precision=6)
        paths.append(path)
    return paths[0], paths[1]


def run_size(rows: int, features: int) -> dict[str, Any]:
    mlops = MLOPS
    with tempfile.TemporaryDirectory(prefix="mlops-bench-drift-cli-") as directory:
        work = Path(directory)
        reference, current = write_pair(work, rows, features)
        load_before = os.getloadavg()[0]
        drift = [mlops, "drift", "-r", str(reference), "-c", str(current)]
        ours = timed([*drift, "-o", str(work / "cold")])
        naive = timed([sys.executable, "-c", NAIVE, str(reference), str(current), str(work / "n")])
        stats = timed([mlops, "drift", "-r", str(reference), "--write-reference-stats"])
        stored = timed([*drift, "-o", str(work / "stored")])
        load_after = os.getloadavg()[0]
        scipy_results = json.loads((work / "n").read_text())
        diffs = []
        for out in ("cold", "stored"):
            report = json.loads((work / out / "drift.json").read_text())["features"]
            for name, (statistic, pvalue) in scipy_results.items():
                diffs.append(abs(report[name]["ks_statistic"] - statistic))
                diffs.append(abs(report[name]["ks_pvalue"] - pvalue))
        drifted = len(json.loads((work / "cold" / "drift.json").read_text())["drifted_features"])
    return {
        "rows": rows,
        "features": features,
        "ours": ours,
        "ours_with_reference_stats": stored,
        "writing_reference_stats": stats,
        "naive_pandas_scipy": naive,
        "ratio": round(naive["seconds"] / ours["seconds"], 2),
        "ratio_with_reference_stats": round(naive["seconds"] / stored["seconds"], 2),
        "cpu_ratio": round(naive["cpu_seconds"] / ours["cpu_seconds"], 2),
        "cpu_ratio_with_reference_stats": round(naive["cpu_seconds"] / stored["cpu_seconds"], 2),
        "max_abs_diff_vs_scipy": float(np.max(diffs)),
        "drifted_features": drifted,
        "load_average": [round(load_before, 2), round(load_after, 2)],
    }


def run(sizes: list[tuple[int, int]]) -> dict[str, Any]:
    results = [run_size(rows, features) for rows, features in sizes]
    report: dict[str, Any] = {"cpus": os.cpu_count(), "sizes": results}
    report["bars"] = {
        "at_least_3x": all(r["ratio"] >= RATIO_BAR for r in results),
        "at_least_3x_with_reference_stats": all(
            r["ratio_with_reference_stats"] >= RATIO_BAR for r in results
        ),
        "matches_scipy_1e-9": all(r["max_abs_diff_vs_scipy"] <= MATCH_BAR for r in results),
        "exit_codes_1": all(
            r[k]["exit_code"] == 1 for r in results for k in ("ours", "ours_with_reference_stats")
        ),
    }
    report["bars"]["met"] = all(report["bars"].values())
    return report


def _line(label: str, measured: dict[str, Any]) -> str:
    return (
        f"  {label + ':':<36}{measured['seconds']:7.2f} s wall, {measured['cpu_seconds']:6.2f} s "
        f"CPU, peak RSS {measured['peak_rss_bytes'] / 1e9:.2f} GB"
    )


def render(report: dict[str, Any]) -> str:
    lines = ["mlops drift end to end (fresh processes, reports included) vs pandas + scipy"]
    for r in report["sizes"]:
        lines += [
            f"{r['rows']:,} rows x {r['features']} features (load average "
            f"{r['load_average'][0]} -> {r['load_average'][1]} on {report['cpus']} CPUs):",
            _line("mlops drift", r["ours"]),
            _line("mlops drift, stored reference", r["ours_with_reference_stats"]),
            _line("  (writing the stats, once)", r["writing_reference_stats"]),
            _line("pandas.read_csv + scipy ks_2samp", r["naive_pandas_scipy"]),
            f"  CPU ratio {r['cpu_ratio']:.1f}x, stored reference "
            f"{r['cpu_ratio_with_reference_stats']:.1f}x",
            f"  ratio {r['ratio']:.1f}x, stored reference {r['ratio_with_reference_stats']:.1f}x"
            f" (bar >= {RATIO_BAR:g}x); max |ours - scipy| = {r['max_abs_diff_vs_scipy']:.1e}; "
            f"{r['drifted_features']} features drifted",
        ]
    bars = report["bars"]
    lines.append("bars met" if bars["met"] else f"BARS NOT MET: {bars}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for("drift_cli", __doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        nargs="+",
        default=["300000x40", "1000000x50"],
        help="ROWSxFEATURES per run (default: 300000x40 1000000x50).",
    )
    args = parser.parse_args(argv)
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes]
    return publish(run(sizes), render, args)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
