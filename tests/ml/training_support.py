"""Helpers for the data, training, validation and drift tests: small snapshots, params,
in-process training runs with the container's environment layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from ml.data import CHURN_SCHEMA, generate_churn, split, write_channels
from ml.data.io import DataSnapshot, read_channel
from ml.params import DataParams, Params, TrainParams, load_params
from ml.training.artifact import load_artifact
from ml.training.entry import run
from ml.training.snapshot import with_reference_stats
from ml.training.trainer import TrainingData

SMALL_ROWS = 6_000


def small_params(**train: object) -> Params:
    """The shipped params with a smaller snapshot and fewer rounds (tests run in seconds)."""
    shipped = load_params()
    values = {"num_boost_round": 30, "checkpoint_every": 5, **train}
    return shipped.model_copy(
        update={
            "data": DataParams(seed=shipped.data.seed, rows=SMALL_ROWS),
            "train": TrainParams.model_validate({**shipped.train.model_dump(), **values}),
        }
    )


def make_snapshot(
    root: Path, rows: int = SMALL_ROWS, seed: int = 1, shift: dict | None = None
) -> DataSnapshot:
    frame = generate_churn(rows, seed, shift)
    splits = split(frame, CHURN_SCHEMA, 0.2, 0.15, seed)
    return with_reference_stats(write_channels(splits, CHURN_SCHEMA, root))


def container_env(
    work: Path, data: Path, params: Params, model_dir: Path | None = None
) -> dict[str, str]:
    """The environment `mlops train --local` gives the entry point."""
    from ml.training.local import LocalLayout, container_environment

    layout = LocalLayout(work)
    env = container_environment(params, layout, data, base={})
    if model_dir is not None:
        env["SM_MODEL_DIR"] = str(model_dir)
    return env


def train_in_process(work: Path, data: Path, params: Params) -> Path:
    """Run the entry point's logic here (no subprocess); returns the artifact directory."""
    env = container_env(work, data, params)
    run(env)
    return Path(env["SM_MODEL_DIR"])


def validation_predictions(model_dir: Path, data: Path) -> np.ndarray:
    frame, schema = read_channel(data / "validation")
    artifact = load_artifact(model_dir)
    return artifact.predict_proba(TrainingData.from_frame(frame, schema).features)


def features_only(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(CHURN_SCHEMA.feature_names)
