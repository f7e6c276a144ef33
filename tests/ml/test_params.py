"""The params file and the hyperparameters a training job receives."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import MlopsError
from ml.params import DEFAULT_PARAMS, load_params, parse_hyperparameters


def test_shipped_params_file_is_valid() -> None:
    params = load_params(DEFAULT_PARAMS)
    assert params.model == "churn-classifier", "the shipped model"
    assert params.drift.ks_pvalue == 0.05 and params.drift.psi == 0.2, "defaults from practice"


def test_unknown_key_in_params_file_names_the_key(tmp_path: Path) -> None:
    # given a params file with a misspelt hyperparameter
    path = tmp_path / "params.yaml"
    path.write_text(DEFAULT_PARAMS.read_text().replace("num_leaves:", "num_leafs:"))
    # then loading it fails with one line naming the key
    with pytest.raises(MlopsError, match=r"unknown key 'train.num_leafs'") as raised:
        load_params(path)
    assert "\n" not in str(raised.value), "one line"


def test_out_of_range_value_says_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(DEFAULT_PARAMS.read_text().replace("learning_rate: 0.08", "learning_rate: 3"))
    with pytest.raises(
        Exception, match=r"train.learning_rate: invalid value 3: .*less than or equal to 1"
    ):
        load_params(path)


def test_missing_params_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(MlopsError, match="params file not found"):
        load_params(tmp_path / "absent.yaml")


def test_hyperparameters_as_sagemaker_strings_parse_to_types() -> None:
    # given hyperparameters as SageMaker writes them (every value a string)
    shipped = load_params().train
    strings = shipped.as_hyperparameters()
    # when the job parses them
    parsed = parse_hyperparameters(strings, "hyperparameters.json")
    # then it gets the same typed values
    assert parsed == shipped, "string round trip must be exact"


def test_unknown_hyperparameter_is_refused_with_allowed_list() -> None:
    with pytest.raises(
        Exception, match=r"unknown hyperparameter 'bagging_fraction' \(allowed: .*num_leaves"
    ):
        parse_hyperparameters({"bagging_fraction": "0.8"}, "SM_HPS")


def test_sagemaker_reserved_hyperparameters_are_ignored() -> None:
    parsed = parse_hyperparameters(
        {"sagemaker_program": "x", "_tuning_objective_metric": "y"}, "SM_HPS"
    )
    assert parsed.num_boost_round == 100, "reserved keys must not be treated as ours"


def test_params_hash_ignores_checkpoint_frequency() -> None:
    train = load_params().train
    assert train.params_hash() == train.model_copy(update={"checkpoint_every": 3}).params_hash(), (
        "checkpoint frequency does not change the model"
    )
    assert train.params_hash() != train.model_copy(update={"num_leaves": 15}).params_hash(), (
        "a hyperparameter change must change the hash"
    )
