"""Validation predicts through LightGBM's library (`ml.training.native`), not its package.

The oracle is the `lightgbm` package itself: `Booster.predict` on the same model text,
probabilities and TreeSHAP contributions equal to 1e-12. The point of the change is what
a validation process does not import, checked in a fresh interpreter.
"""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from common.errors import MlopsError
from ml.training.artifact import ModelMetadata, load_artifact, write_artifact
from tests.conftest import fresh_python

FEATURES = ["tenure", "charges", "calls", "region"]


def trained(tmp_path: Path) -> tuple[Path, lgb.Booster, np.ndarray]:
    """A model with a categorical feature and missing values, written as an artifact."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=(3000, 4))
    x[:, 3] = rng.integers(0, 5, size=3000)
    x[rng.random(3000) < 0.05, 1] = np.nan
    y = ((x[:, 0] + (x[:, 3] == 2) + rng.normal(size=3000)) > 0.5).astype(int)
    data = lgb.Dataset(x, y, feature_name=FEATURES, categorical_feature=["region"])
    params = {"objective": "binary", "num_leaves": 15, "verbose": -1, "seed": 3}
    booster = lgb.train(params, data, num_boost_round=40)
    metadata = ModelMetadata(
        library_version=lgb.__version__,
        features=FEATURES,
        n_features=len(FEATURES),
        params=params,
        training_data_hash="sha256:" + "ab" * 32,
    )
    return write_artifact(tmp_path / "model", booster.model_to_string(), metadata), booster, x


def test_probabilities_equal_lightgbm_predict(tmp_path: Path) -> None:
    # Given a model written by LightGBM, and LightGBM's own predictions as the oracle
    model, _, x = trained(tmp_path)
    oracle = lgb.Booster(model_str=(model / "model.txt").read_text()).predict(x, num_threads=1)
    # When validation loads the artifact and predicts
    predicted = load_artifact(model).predict_proba(x)
    # Then every probability equals LightGBM's
    assert predicted.shape == (3000,), predicted.shape
    assert np.max(np.abs(predicted - oracle)) <= 1e-12, np.max(np.abs(predicted - oracle))


def test_contributions_equal_lightgbm_pred_contrib(tmp_path: Path) -> None:
    # Given the same model, and LightGBM's TreeSHAP contributions as the oracle
    model, _, x = trained(tmp_path)
    oracle = lgb.Booster(model_str=(model / "model.txt").read_text()).predict(
        x[:200], pred_contrib=True, num_threads=1
    )
    # When validation explains the rows
    found = load_artifact(model).booster.predict(x[:200], pred_contrib=True, num_threads=1)
    # Then the (rows, features + bias) contributions equal LightGBM's
    assert found.shape == (200, 5), found.shape
    assert np.max(np.abs(found - oracle)) <= 1e-12, np.max(np.abs(found - oracle))


def test_feature_names_are_the_models(tmp_path: Path) -> None:
    # Given a model whose features are named
    model, booster, _ = trained(tmp_path)
    # Then the loaded model names them as LightGBM does
    assert load_artifact(model).booster.feature_name() == booster.feature_name() == FEATURES


def test_model_text_lightgbm_refuses_is_one_line_error(tmp_path: Path) -> None:
    # Given an artifact whose model.txt is not a LightGBM model
    model, _, _ = trained(tmp_path)
    (model / "model.txt").write_text("tree\nnot a model\n", encoding="utf-8")
    # Then loading it is one line naming the file and LightGBM's reason
    with pytest.raises(MlopsError, match=r"model\.txt: not a LightGBM model: \S") as error:
        load_artifact(model)
    assert "\n" not in str(error.value), str(error.value)


def test_features_that_disagree_with_model_json_are_refused(tmp_path: Path) -> None:
    # Given model.json naming other features than model.txt
    model, _, _ = trained(tmp_path)
    card = json.loads((model / "model.json").read_text())
    card["features"] = ["a", "b", "c", "d"]
    (model / "model.json").write_text(json.dumps(card))
    # Then the artifact is refused before anyone predicts
    with pytest.raises(MlopsError, match=r"model\.json lists features"):
        load_artifact(model)


def test_predicting_imports_neither_lightgbm_nor_sklearn(tmp_path: Path, repo_root: Path) -> None:
    # Given an artifact, when a fresh interpreter loads it and predicts
    model, _, x = trained(tmp_path)
    np.save(tmp_path / "x.npy", x[:10])
    code = (
        "import sys, numpy as np\n"
        "from ml.training.artifact import load_artifact\n"
        f"artifact = load_artifact(__import__('pathlib').Path({str(model)!r}))\n"
        f"print(artifact.predict_proba(np.load({str(tmp_path / 'x.npy')!r})).tolist())\n"
        "heavy = ('lightgbm', 'sklearn', 'pandas', 'scipy')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    done = fresh_python(code, repo_root)
    assert done.returncode == 0, done.stderr
    probabilities, loaded = done.stdout.splitlines()[-2:]
    # Then it predicted, and none of the lightgbm package's integrations was imported
    assert len(json.loads(probabilities)) == 10, probabilities
    assert loaded == "[]", f"predicting imported {loaded}"
