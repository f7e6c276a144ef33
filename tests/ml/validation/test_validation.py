"""`mlops validate`: metrics, gates with tolerances, latency, drift, reports, exit codes."""

from __future__ import annotations

import re
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest
from sklearn import metrics as sk

from ml.metrics import Latency, classification_metrics, single_row_latency
from ml.params import load_params
from ml.validation.explain import explain
from ml.validation.gates import drift_gate, metric_gate
from ml.validation.run import validate
from tests.conftest import Cli, ReportRun, run_reporting
from tests.ml.training_support import make_snapshot, small_params, train_in_process


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Channels, a good model (30 rounds) and a weak one (2 rounds) on the same data."""
    root = tmp_path_factory.mktemp("validation")
    data = make_snapshot(root / "data").root
    good = train_in_process(root / "good", data, small_params())
    weak = train_in_process(root / "weak", data, small_params(num_boost_round=2, num_leaves=4))
    return {"data": data, "good": good, "weak": weak, "root": root}


def test_metrics_agree_with_scikit_learn() -> None:
    # given labels and scores with ties
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2_000)
    p = np.round(np.clip(0.3 * y + rng.random(2_000) * 0.7, 0, 1), 2)
    # when our metrics are computed
    ours = classification_metrics(y, p)
    # then they equal scikit-learn's
    assert ours.accuracy == pytest.approx(sk.accuracy_score(y, p >= 0.5), abs=1e-12), "accuracy"
    assert ours.roc_auc == pytest.approx(sk.roc_auc_score(y, p), abs=1e-12), "ROC AUC with ties"
    assert ours.log_loss == pytest.approx(sk.log_loss(y, p), abs=1e-9), "log loss"


def test_metric_gate_fails_by_how_much_beyond_tolerance() -> None:
    gate = metric_gate("roc_auc", candidate=0.80, production=0.812, tolerance=0.005)
    assert not gate.passed, "0.012 worse is more than 0.005"
    assert gate.margin == pytest.approx(-0.007), "fails by 0.007"
    assert (
        "0.0120 worse than production (0.8120), 0.0070 more than the 0.005 tolerance"
        in gate.message
    )


def test_metric_gate_passes_within_tolerance_for_lower_is_better() -> None:
    gate = metric_gate("log_loss", candidate=0.455, production=0.452, tolerance=0.01)
    assert gate.passed and gate.limit == pytest.approx(0.462), gate


def test_drift_gate_names_the_drifted_features() -> None:
    gate = drift_gate(["age", "plan"], allowed=1)
    assert not gate.passed and "(age, plan)" in gate.message and "1 more than" in gate.message, gate


def test_single_row_latency_times_one_row_per_call() -> None:
    shapes: list[tuple[int, ...]] = []
    latency = single_row_latency(
        lambda row: shapes.append(row.shape) or row, np.zeros((5, 3)), repeats=50
    )
    assert set(shapes) == {(1, 3)}, "one row per prediction"
    assert (
        isinstance(latency, Latency) and latency.repeats == 50 and latency.p99_ms >= latency.p50_ms
    )


def test_single_row_latency_counts_the_models_work_not_time_spent_waiting() -> None:
    # Given a "model" that waits 2 ms per row (as a thread preempted on a busy runner does)
    # and one that computes for about 2 ms,
    def waits(row: np.ndarray) -> np.ndarray:
        time.sleep(0.002)
        return row

    def computes(row: np.ndarray) -> np.ndarray:
        deadline = time.thread_time() + 0.002
        while time.thread_time() < deadline:
            pass
        return row

    rows = np.zeros((5, 3))
    # then the waiting does not count against the gate, and the computing does
    assert single_row_latency(waits, rows, repeats=20).p99_ms < 1.0
    assert single_row_latency(computes, rows, repeats=20).p50_ms >= 2.0


def _run(cli: Cli, argv: list[str], out: Path) -> ReportRun:
    return run_reporting(cli, "validate", argv, out, "validation.json")


@pytest.fixture(scope="module")
def passing(trained: dict[str, Path], cli: Cli) -> ReportRun:
    """The good model validated against itself."""
    argv = [
        "--candidate",
        str(trained["good"]),
        "--production",
        str(trained["good"]),
        "--data",
        str(trained["data"]),
    ]
    return _run(cli, argv, trained["root"] / "passing")


@pytest.fixture(scope="module")
def failing(trained: dict[str, Path], cli: Cli) -> ReportRun:
    """The weak model validated against the good production model."""
    argv = [
        "--candidate",
        str(trained["weak"]),
        "--production",
        str(trained["good"]),
        "--data",
        str(trained["data"]),
    ]
    return _run(cli, argv, trained["root"] / "failing")


def test_validate_passes_candidate_equal_to_production(passing: ReportRun) -> None:
    report = passing.json()
    assert passing.code == 0, report["failed_gates"]
    assert report["passed"] is True, "machine-readable verdict"
    assert [g["name"] for g in report["gates"]] == [
        "accuracy",
        "roc_auc",
        "log_loss",
        "latency_p99_ms",
        "drifted_features",
    ], report["gates"]


def test_validate_writes_markdown_json_and_html(passing: ReportRun) -> None:
    names = {p.name for p in passing.out.iterdir()}
    assert names == {"validation.md", "validation.json", "validation.html"}, names


def test_validate_fails_a_worse_candidate_with_exit_code_1(failing: ReportRun) -> None:
    report = failing.json()
    assert failing.code == 1, "a failed gate is exit code 1"
    assert "roc_auc" in report["failed_gates"], report["failed_gates"]


def test_validate_report_says_which_gate_failed_and_by_how_much(failing: ReportRun) -> None:
    markdown = (failing.out / "validation.md").read_text()
    roc = next(g for g in failing.json()["gates"] if g["name"] == "roc_auc")
    assert markdown.startswith("## Model validation: ❌"), markdown[:80]
    assert "❌ fail" in markdown and "more than the 0.005 tolerance" in markdown, markdown[:600]
    assert roc["margin"] < 0 and roc["limit"] == pytest.approx(roc["production"] - 0.005), roc


def test_validate_error_line_names_the_failed_gates(failing: ReportRun) -> None:
    assert failing.err.startswith("error: ") and failing.err.count("\n") == 1, failing.err
    assert "roc_auc" in failing.err and "worse than production" in failing.err, failing.err


def test_validation_report_html_has_plots_and_no_external_resources(failing: ReportRun) -> None:
    page = (failing.out / "validation.html").read_text()
    assert page.count("<svg") >= 5, "metrics, ROC, latency, drift and distribution plots"
    external = re.findall(r"""(?:src|href)\s*=\s*["'](?!#)[^"']*""", page)
    assert external == [], f"self-contained: no external resources, found {external[:3]}"
    assert "<script" not in page and "<link" not in page, "no scripts, no stylesheets to fetch"


def test_validate_first_release_applies_only_absolute_gates(trained: dict[str, Path]) -> None:
    # a first model: no production, so no production reference to drift from (its own
    # snapshot's reference split could never show drift)
    result = validate(trained["good"], None, trained["data"], load_params())
    assert result.production is None and result.passed, [g.message for g in result.gates]
    assert [g.name for g in result.gates] == ["latency_p99_ms"], result.gates
    assert result.drift is None and result.reference_path is None


def test_validate_fails_the_drift_gate_on_shifted_training_data(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    # given a production reference drawn from a world where monthly charges were 25 lower
    reference = make_snapshot(tmp_path / "old", seed=9, shift={"monthly_charges": -25.0})
    # when the candidate is validated against it
    result = validate(
        trained["good"],
        None,
        trained["data"],
        load_params(),
        reference.channels["reference"] / "reference.csv",
    )
    # then the drift gate fails, naming the feature
    assert [g.name for g in result.failed] == ["drifted_features"], [
        g.message for g in result.gates
    ]
    assert result.drift.drifted == ["monthly_charges"], result.drift.drifted
    assert "(monthly_charges)" in result.failed[0].message, result.failed[0].message


def test_validate_refuses_data_the_candidate_was_not_trained_on(
    trained: dict[str, Path], tmp_path: Path, cli: Cli
) -> None:
    other = make_snapshot(tmp_path / "other", seed=2).root
    code, _, err = cli(
        "validate", "--candidate", str(trained["good"]), "--data", other, "--out", tmp_path
    )
    assert code == 2, "bad input"
    assert "this is not the data the candidate was trained on" in err and err.count("\n") == 1, err


def test_validate_missing_candidate_is_one_line_error(tmp_path: Path, cli: Cli) -> None:
    code, _, err = cli("validate", "--candidate", str(tmp_path / "absent"), "--data", tmp_path)
    expected = f"--candidate {tmp_path / 'absent'}: no such file or directory"
    assert code == 2 and expected in err and err.count("\n") == 1, err


def _one_feature_matters() -> tuple[lgb.Booster, np.ndarray]:
    """A classifier on 5 features whose label depends on x3 alone."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, 5))
    y = (x[:, 3] + rng.normal(scale=0.3, size=3000) > 0).astype(int)
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "num_threads": 1, "seed": 5}
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=30), x


def test_explain_ranks_the_only_feature_that_matters_first() -> None:
    # given a model whose label depends on x3 only
    model, x = _one_feature_matters()
    # when its contributions are computed
    explanation = explain(model, x, ["x0", "x1", "x2", "x3", "x4"], sample=500)
    # then x3 is the most important feature, by far
    ranked = [explanation.features[i] for i in explanation.ranked()]
    assert ranked[0] == "x3", f"x3 alone decides the label, ranking was {ranked}"
    others = max(explanation.importance[:3] + explanation.importance[4:])
    assert explanation.importance[3] > 10 * others, explanation.importance


def test_explain_contributions_and_bias_add_up_to_the_raw_score() -> None:
    # given a model and 500 sampled rows of 3,000
    model, x = _one_feature_matters()
    explanation = explain(model, x, ["x0", "x1", "x2", "x3", "x4"], sample=500)
    # when LightGBM's raw score is computed independently for the sampled rows
    example = explanation.examples[0]
    raw = model.predict(x[[example.row]], raw_score=True)[0]
    # then each example's raw score and probability are LightGBM's
    assert explanation.rows == 500 and explanation.of_rows == 3000, "a sample of the rows"
    assert example.raw_score == pytest.approx(raw, abs=1e-9), "contributions + bias = raw score"
    assert example.probability == pytest.approx(model.predict(x[[example.row]])[0], abs=1e-12)
    # and, over the whole sample, contributions + bias = raw score
    assert explanation.contributions.shape == (500, 5), explanation.contributions.shape
    sums = explanation.contributions.sum(axis=1) + explanation.bias
    rows = np.array([model.predict(v[None, :], raw_score=True)[0] for v in explanation.values])
    assert np.max(np.abs(sums - rows)) <= 1e-9, "every sampled row adds up"


def test_validation_report_shows_feature_contributions(passing: ReportRun) -> None:
    # given the validation report of the good model
    document = passing.json()["candidate"]["explanation"]
    markdown = (passing.out / "validation.md").read_text()
    page = (passing.out / "validation.html").read_text()
    # then every feature has a mean |contribution|, most important first
    importance = document["importance"]
    sample = (document["rows"], document["of_rows"])
    assert sample == (1000, 1200), f"explain_rows (1,000) of the 1,200 validation rows: {sample}"
    assert len(importance) == 20, f"one entry per churn feature: {len(importance)}"
    values = [item["mean_abs_contribution"] for item in importance]
    assert values == sorted(values, reverse=True) and values[0] > 0, values
    top = importance[0]
    # and the markdown and HTML show the section with those numbers
    line = f"| 1 | `{top['feature']}` | {top['mean_abs_contribution']:.4f} |"
    assert "### Feature contributions" in markdown and line in markdown, markdown[-2500:]
    assert "Feature contributions" in page and "Global importance" in page, "HTML section"
    assert page.count("<circle") == 250 * 20, "beeswarm: every 4th of 1,000 rows, per feature"
    assert len(document["examples"]) == 3, "highest, middle and lowest prediction"
