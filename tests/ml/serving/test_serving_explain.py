"""The server's explainer: LightGBM's TreeSHAP through its C API, equal to `pred_contrib`."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from ml.data.io import read_channel
from ml.serving import codec
from ml.serving import explain as explain_module
from ml.serving.codec import BadRequest
from ml.serving.explain import Explainer
from ml.serving.model import NotServable, compile_model, load_model
from ml.serving.settings import ServeSettings
from ml.training.trainer import TrainingData
from tests.ml.serving_support import (
    N_FEATURES,
    booster,
    categorical_booster,
    rows,
    write_artifact,
)
from tests.ml.training_support import make_snapshot, small_params, train_in_process

EXACT = 1e-9


def explainer_of(model: lgb.Booster, n_features: int = N_FEATURES) -> Explainer:
    return Explainer(model.model_to_string().encode(), n_features)


def test_explain_batch_with_missing_values_equals_lightgbm_pred_contrib() -> None:
    # given 2,000 rows with 10% missing values
    data = rows(2000, seed=3, missing=0.1)
    # when the server's explainer and LightGBM's Python API both explain them
    ours = explainer_of(booster()).explain(data)
    theirs = booster().predict(data, pred_contrib=True)
    # then every contribution, and the bias column, agree to 1e-9
    assert ours.shape == (2000, N_FEATURES + 1), f"one column per feature plus bias: {ours.shape}"
    worst = float(np.max(np.abs(ours - theirs)))
    assert worst <= EXACT, f"largest difference to LightGBM's pred_contrib is {worst:.3g}"


def test_explain_row_of_categorical_model_equals_lightgbm_pred_contrib() -> None:
    # given a model with categorical splits and codes it never saw
    model = categorical_booster()
    data = rows(300, seed=9, missing=0.05)
    data[:, 0] = np.random.default_rng(9).choice([0, 1, 2, 5, 9, -1, 2.5, np.nan], 300)
    explainer = explainer_of(model)
    # when rows are explained one at a time (the server's single-row path)
    ours = np.array([explainer.explain_row(row) for row in data.tolist()])
    # then each equals LightGBM's
    worst = float(np.max(np.abs(ours - model.predict(data, pred_contrib=True))))
    assert worst <= EXACT, f"largest single-row difference to LightGBM is {worst:.3g}"


def test_contributions_add_up_to_the_logit_of_the_served_probability() -> None:
    # given the compiled predictor (lleaves) and the explainer (LightGBM) of one model
    data = rows(1000, seed=4, missing=0.05)
    probability = compile_model(booster().model_to_string().encode(), N_FEATURES).predict(data)
    # when contributions and bias are summed per row
    total = explainer_of(booster()).explain(data).sum(axis=1)
    # then they are the raw score whose logistic the server answered
    worst = float(np.max(np.abs(1.0 / (1.0 + np.exp(-total)) - probability)))
    assert worst <= 1e-12, f"contributions do not add up to the prediction: {worst:.3g}"


def test_explain_trained_churn_model_equals_lightgbm_pred_contrib(tmp_path: Path) -> None:
    # given the model the project's trainer ships (churn data, categorical features)
    data = make_snapshot(tmp_path / "data", rows=3000).root
    artifact = train_in_process(tmp_path / "train", data, small_params(num_boost_round=20))
    model = lgb.Booster(model_file=str(artifact / "model.txt"))
    frame, schema = read_channel(data / "validation")
    features = TrainingData.from_frame(frame, schema).features
    # when the server's explainer explains the validation rows
    ours = Explainer((artifact / "model.txt").read_bytes(), model.num_feature()).explain(features)
    # then it is LightGBM's pred_contrib
    worst = float(np.max(np.abs(ours - model.predict(features, pred_contrib=True))))
    assert worst <= EXACT, f"largest difference to LightGBM on the churn model is {worst:.3g}"


@pytest.mark.parametrize(
    ("attributes", "asked"),
    [
        ("explain=contributions", True),
        ("trace=abc-123; Explain = Contributions", True),
        ("trace=abc-123", False),
        ("explain=none", False),
        ("", False),
    ],
)
def test_explain_requested_reads_sagemaker_custom_attributes(attributes: str, asked: bool) -> None:
    assert codec.explain_requested(attributes) is asked, f"{attributes!r} should give {asked}"


def test_explain_requested_unknown_value_is_400_naming_the_choices() -> None:
    with pytest.raises(BadRequest) as caught:
        codec.explain_requested("explain=shap")
    message = caught.value.message
    assert caught.value.status == 400, f"an unknown explain value is a 400: {caught.value.status}"
    assert "'shap'" in message and "explain=contributions" in message, message
    assert "\n" not in message, "one line"


def test_load_model_without_lightgbm_library_still_serves_predictions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an image whose lightgbm lacks its native library
    def missing() -> Path:
        raise NotServable("lightgbm is installed without its native library (lib_lightgbm)")

    monkeypatch.setattr(explain_module, "library_path", missing)
    artifact = write_artifact(tmp_path / "model")
    # when the model loads
    loaded = load_model(ServeSettings(model_dir=artifact, require_signature=False))
    # then predictions are served and explanation requests get the reason
    assert loaded.explainer is None and "lib_lightgbm" in loaded.explain_unavailable, loaded
    value = loaded.predictor.predict_row(rows(1)[0].tolist())
    assert value == pytest.approx(booster().predict(rows(1))[0], abs=1e-12), "still predicts"
