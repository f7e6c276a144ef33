"""Boosting with checkpoints: the pure training step, no paths or environment.

Exactness of resuming, and why it holds: every hyperparameter the schema offers keeps
LightGBM deterministic (no row or feature subsampling; `deterministic`, row-wise
histograms and a fixed thread count). Resuming loads the checkpoint's trees as the
initial model; LightGBM then starts from their raw scores, which are the same doubles,
summed in the same order, as the scores an uninterrupted run holds at that round, and
every later tree is identical. Tests compare the predictions bit for bit.

The artifact's bytes are identical too: LightGBM records the rounds of the *last*
`lgb.train` call in the model text's parameter block (`[num_iterations: 80]` for a run
resumed at round 20 of 100), the one byte-level trace of the interruption, so
`model_text` records the run's total instead, as an uninterrupted run does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import polars as pl

from ml.data.schema import DatasetSchema
from ml.params import TrainParams
from ml.training.checkpoint import CheckpointStore


class Interrupted(Exception):
    """Training stopped on request (SIGTERM) after checkpointing `iteration` rounds."""

    def __init__(self, iteration: int):
        super().__init__(f"interrupted after {iteration} boosting rounds (checkpoint written)")
        self.iteration = iteration


@dataclass(frozen=True)
class TrainingData:
    """A float64 feature matrix in model column order, and 0/1 labels."""

    features: np.ndarray
    labels: np.ndarray
    names: list[str]
    categorical: list[str]

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, schema: DatasetSchema) -> TrainingData:
        matrix = frame.select(schema.feature_names).cast(pl.Float64).to_numpy(order="c")
        labels = frame.get_column(schema.label).to_numpy().astype(np.float64)
        return cls(matrix, labels, schema.feature_names, schema.categorical)


@dataclass(frozen=True)
class TrainResult:
    booster: lgb.Booster
    model_text: str
    """The artifact's `model.txt`: the same bytes however often the run was interrupted."""
    iterations: int
    resumed_from: int | None
    checkpoints_written: int


_NUM_ITERATIONS = re.compile(r"^\[num_iterations: \d+\]$", re.MULTILINE)


def model_text(booster: lgb.Booster, total_rounds: int) -> str:
    """`booster` as LightGBM model text whose parameter block records `total_rounds`
    boosting rounds, whichever `lgb.train` call trained the last of them."""
    text = booster.model_to_string(num_iteration=-1)
    recorded, count = _NUM_ITERATIONS.subn(f"[num_iterations: {total_rounds}]", text)
    if count != 1:
        raise RuntimeError(
            f"LightGBM {lgb.__version__} model text has {count} num_iterations parameter "
            "lines, expected 1: the artifact of a resumed run would differ from an "
            "uninterrupted one"
        )
    return recorded


def lightgbm_params(hp: TrainParams) -> dict:
    """The full LightGBM configuration: the schema's values plus what keeps it exact."""
    return {
        "objective": "binary",
        "verbosity": -1,
        "deterministic": True,
        "force_row_wise": True,
        "bagging_fraction": 1.0,
        "feature_fraction": 1.0,
        # num_boost_round goes to lgb.train: in params it would override the rounds left
        **{k: v for k, v in hp.model_params().items() if k != "num_boost_round"},
    }


def train_booster(
    data: TrainingData,
    hp: TrainParams,
    store: CheckpointStore | None,
    should_stop: Callable[[], bool] = lambda: False,
) -> TrainResult:
    """Train `hp.num_boost_round` rounds, resuming from the store's latest checkpoint.

    Raises `Interrupted` when `should_stop()` turns true: the rounds done so far are
    checkpointed first, so a later call carries on from there.
    """
    total = hp.num_boost_round
    start = store.latest() if store is not None else None
    begin = start.iteration if start else 0
    written = 0
    if should_stop():
        raise Interrupted(begin)
    if start is not None and begin >= total:
        booster = lgb.Booster(model_str=start.model_text)
        return TrainResult(booster, model_text(booster, total), begin, begin, 0)

    params = lightgbm_params(hp)
    dataset = lgb.Dataset(
        data.features,
        label=data.labels,
        feature_name=data.names,
        categorical_feature=data.categorical or "auto",
        free_raw_data=False,
        params={"max_bin": hp.max_bin, "verbosity": -1},
    )

    def after_round(env: lgb.callback.CallbackEnv) -> None:
        nonlocal written
        done = env.iteration + 1  # rounds in the model, checkpointed ones included
        stopping = should_stop()
        if store is not None and (done % hp.checkpoint_every == 0 or done == total or stopping):
            store.save(done, env.model.model_to_string(num_iteration=-1))
            written += 1
        if stopping and done < total:
            raise Interrupted(done)

    booster = lgb.train(
        params,
        dataset,
        num_boost_round=total - begin,
        init_model=lgb.Booster(model_str=start.model_text) if start else None,
        callbacks=[after_round],
    )
    return TrainResult(
        booster,
        model_text(booster, total),
        booster.current_iteration(),
        start.iteration if start else None,
        written,
    )
