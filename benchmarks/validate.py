"""`mlops validate` end to end, as a process, against the script a user would write instead.

Setup (not timed against anything): `mlops train --local` on the shipped params (40,000
rows, 100 rounds) writes the data channels and the candidate; a copy of the candidate
stands in for production (the work is the same: both models are scored).

Then, each a fresh process with its cold start:

1. `mlops validate --candidate C --production P --data D` (reports included);
2. the script a user would write instead: `pandas.read_csv` of the train, validation and
   reference channels, `lightgbm.Booster` predictions of both models, accuracy, ROC AUC
   and log loss from scikit-learn, the same number of single-row predictions for latency,
   and drift of the training data against the reference (`scipy.stats.ks_2samp` per
   numeric feature, `chi2_contingency` per categorical one).

Printed and written to build/bench/validate.json: wall and CPU seconds of each, the
ratios, and the largest difference between validation.json's metrics and KS statistics
and scikit-learn's and scipy's (bar: 1e-9); the issue sets no speed bar for validate.

Run alone: `python -m benchmarks.validate [--strict]`.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import (
    MLOPS,
    installed_environment,
    line,
    load_average,
    parser_for,
    publish,
    timed,
)

MATCH_BAR = 1e-9

NAIVE = """
import json, sys, time
import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
candidate, production, data, repeats, out = sys.argv[1:6]
schema = json.load(open(f"{data}/train/schema.json"))
features = [f["name"] for f in schema["features"]]
categorical = [f["name"] for f in schema["features"] if f["kind"] == "categorical"]
train = pd.read_csv(f"{data}/train/train.csv")
validation = pd.read_csv(f"{data}/validation/validation.csv")
reference = pd.read_csv(f"{data}/reference/reference.csv")
x, y = validation[features].to_numpy(dtype=float), validation[schema["label"]].to_numpy()
result = {}
for role, model in (("candidate", candidate), ("production", production)):
    booster = lgb.Booster(model_file=f"{model}/model.txt")
    p = booster.predict(x, num_threads=1)
    latencies = []
    for i in range(int(repeats)):
        started = time.perf_counter()
        booster.predict(x[i : i + 1], num_threads=1)
        latencies.append(time.perf_counter() - started)
    result[role] = {"accuracy": accuracy_score(y, p >= 0.5), "roc_auc": roc_auc_score(y, p),
                    "log_loss": log_loss(y, p), "p99_ms": 1e3 * np.percentile(latencies, 99)}
result["ks"] = {}
for c in features:
    if c in categorical:
        table = pd.crosstab(pd.concat([reference[c], train[c]]),
                            np.repeat([0, 1], [len(reference), len(train)]))
        stats.chi2_contingency(table.to_numpy())
    else:
        r = stats.ks_2samp(reference[c], train[c])
        result["ks"][c] = [float(r.statistic), float(r.pvalue)]
json.dump(result, open(out, "w"))
"""


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mlops-bench-validate-") as directory:
        work = Path(directory)
        training = timed([MLOPS, "train", "--local", "--out", str(work / "train")])
        if training["exit_code"] != 0:
            raise SystemExit(f"mlops train --local failed with exit {training['exit_code']}")
        candidate, data = work / "train" / "model", work / "train" / "data"
        production = work / "production"
        shutil.copytree(candidate, production)
        repeats = "300"  # the shipped params' validation.latency_repeats
        load_before = load_average()
        models = ["--candidate", str(candidate), "--production", str(production)]
        env = installed_environment()
        validate = [MLOPS, "validate", *models, "--data", str(data), "-o", str(work / "out")]
        ours = timed(validate, env=env)
        script = [str(candidate), str(production), str(data), repeats, str(work / "naive.json")]
        naive = timed([sys.executable, "-c", NAIVE, *script], env=env)
        load_after = load_average()
        report = json.loads((work / "out" / "validation.json").read_text())
        reference = json.loads((work / "naive.json").read_text())
    diffs = [
        abs(report[role]["metrics"][name] - reference[role][name])
        for role in ("candidate", "production")
        for name in ("accuracy", "roc_auc", "log_loss")
    ]
    for name, (statistic, pvalue) in reference["ks"].items():
        feature = report["drift"]["features"][name]
        diffs += [abs(feature["ks_statistic"] - statistic), abs(feature["ks_pvalue"] - pvalue)]
    result: dict[str, Any] = {
        "training_setup": training,
        "ours": ours,
        "naive_pandas_sklearn_scipy": naive,
        "ratio": round(naive["seconds"] / ours["seconds"], 2),
        "cpu_ratio": round(naive["cpu_seconds"] / ours["cpu_seconds"], 2),
        "max_abs_diff_vs_sklearn_scipy": max(diffs),
        "load_average": [load_before, load_after],
    }
    result["bars"] = {
        "matches_sklearn_scipy_1e-9": result["max_abs_diff_vs_sklearn_scipy"] <= MATCH_BAR,
        "both_exit_0": ours["exit_code"] == 0 and naive["exit_code"] == 0,
    }
    result["bars"]["met"] = all(result["bars"].values())
    return result


def render(report: dict[str, Any]) -> str:
    bars = report["bars"]
    return "\n".join(
        [
            "mlops validate end to end (fresh processes, reports included) vs pandas + "
            f"LightGBM + scikit-learn + scipy (load average {report['load_average'][0]} -> "
            f"{report['load_average'][1]}):",
            line("mlops validate", report["ours"]),
            line("pandas + sklearn + scipy script", report["naive_pandas_sklearn_scipy"]),
            f"  ratio {report['ratio']:.1f}x wall, {report['cpu_ratio']:.1f}x CPU; max |ours - "
            f"sklearn/scipy| = {report['max_abs_diff_vs_sklearn_scipy']:.1e} (bar {MATCH_BAR:g})",
            "bars met" if bars["met"] else f"BARS NOT MET: {bars}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = parser_for("validate", __doc__.split("\n")[0]).parse_args(argv)
    return publish(run(), render, args)


if __name__ == "__main__":
    sys.exit(main())
