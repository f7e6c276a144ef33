"""The training entry point, honouring the SageMaker training container contract.

Run as `python -m ml.training` (the training image runs it for `docker run <image> train`).
It reads, with SageMaker's defaults when a variable is unset:

    SM_MODEL_DIR            where the artifact goes            /opt/ml/model
    SM_CHANNEL_TRAIN        training channel                   /opt/ml/input/data/train
    SM_CHANNEL_VALIDATION   validation channel                 /opt/ml/input/data/validation
    SM_HPS                  hyperparameters as JSON; else SM_INPUT_CONFIG_DIR/hyperparameters.json
    SM_INPUT_CONFIG_DIR     job configuration                  /opt/ml/input/config
    SM_OUTPUT_DIR           the `failure` file goes here       /opt/ml/output
    SM_OUTPUT_DATA_DIR      `training-run.json` goes here      /opt/ml/output/data
    MLOPS_CHECKPOINT_DIR    checkpoints (CheckpointConfig.LocalPath)  /opt/ml/checkpoints
    MLOPS_MODEL_NAME        recorded in model.json             (optional)

A channel holds one or more `*.csv` files with a header and the `schema.json` that
`ml.data.write_channels` writes. On SIGTERM (what a spot interruption sends, two minutes
before the instance goes) it checkpoints the rounds done and exits with 143; started
again with the same configuration it resumes from the newest checkpoint, and the model is
the same as an uninterrupted run's, byte for byte: `model.json` holds only what
determines the model, and what differs between runs (rounds resumed from, checkpoints
written, wall time) goes to `$SM_OUTPUT_DATA_DIR/training-run.json` (SageMaker uploads
that directory as the job's `output.tar.gz`, beside `model.tar.gz`). On bad input it
writes one line to `$SM_OUTPUT_DIR/failure` (SageMaker shows it as the job's
FailureReason) and exits 2.

Exit codes: 0 done, 1 unexpected failure, 2 bad input, 143 interrupted by SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import lightgbm as lgb

from common.errors import MlopsError
from infra.contracts import Env
from ml.data.hashing import training_data_hash
from ml.data.io import read_channel
from ml.metrics import classification_metrics
from ml.params import TrainParams, parse_hyperparameters
from ml.reports.core import dumps, write_text_atomic
from ml.training.artifact import ModelMetadata, write_artifact
from ml.training.checkpoint import CheckpointStore, RunIdentity
from ml.training.trainer import Interrupted, TrainingData, train_booster

EXIT_INTERRUPTED = 128 + signal.SIGTERM
RUN_FILE = "training-run.json"


@dataclass(frozen=True)
class ContainerPaths:
    model_dir: Path
    train_dir: Path
    validation_dir: Path
    config_dir: Path
    output_dir: Path
    checkpoint_dir: Path
    output_data_dir: Path | None = None
    """Default: `output_dir/data`, as on SageMaker."""

    @property
    def run_file(self) -> Path:
        """`training-run.json`: this run's facts, which are not part of the artifact."""
        return (self.output_data_dir or self.output_dir / "data") / RUN_FILE

    @classmethod
    def from_environ(cls, env: Mapping[str, str] = os.environ) -> ContainerPaths:
        def path(name: str, default: str) -> Path:
            return Path(env.get(name) or default)

        return cls(
            model_dir=path("SM_MODEL_DIR", "/opt/ml/model"),
            train_dir=path("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"),
            validation_dir=path("SM_CHANNEL_VALIDATION", "/opt/ml/input/data/validation"),
            config_dir=path("SM_INPUT_CONFIG_DIR", "/opt/ml/input/config"),
            output_dir=path("SM_OUTPUT_DIR", "/opt/ml/output"),
            checkpoint_dir=path(Env.CHECKPOINT_DIR, "/opt/ml/checkpoints"),
            output_data_dir=path("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"),
        )

    def environment(
        self,
        hyperparameters: Mapping[str, object] | None,
        channels: Mapping[str, Path] | None = None,
        model_name: str | None = None,
    ) -> dict[str, str]:
        """The variables that give the entry point this layout, as the SageMaker training
        toolkit sets them; `channels` defaults to train and validation at this layout's
        paths. `hyperparameters` None sets no `SM_HPS`: the entry point then reads
        `hyperparameters.json` from the config directory, as in the training image."""
        channels = channels or {"train": self.train_dir, "validation": self.validation_dir}
        env = {
            "SM_MODEL_DIR": str(self.model_dir),
            "SM_CHANNELS": json.dumps(sorted(channels)),
            "SM_INPUT_CONFIG_DIR": str(self.config_dir),
            "SM_OUTPUT_DIR": str(self.output_dir),
            "SM_OUTPUT_DATA_DIR": str(self.output_data_dir or self.output_dir / "data"),
            Env.CHECKPOINT_DIR: str(self.checkpoint_dir),
            "PYTHONUNBUFFERED": "1",
        }
        if hyperparameters is not None:
            env["SM_HPS"] = json.dumps(dict(hyperparameters))
        for name, path in channels.items():
            env[f"SM_CHANNEL_{name.upper()}"] = str(path)
        if model_name:
            env[Env.MODEL_NAME] = model_name
        return env


def load_hyperparameters(paths: ContainerPaths, env: Mapping[str, str]) -> TrainParams:
    """`SM_HPS` when set (the SageMaker training toolkit's form), else the job's
    `hyperparameters.json` (string values, as SageMaker writes them)."""
    raw = env.get("SM_HPS")
    source = "SM_HPS"
    if raw is None:
        file = paths.config_dir / "hyperparameters.json"
        source = str(file)
        try:
            raw = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raw = "{}"  # SageMaker omits the file when a job has no hyperparameters
    try:
        values = json.loads(raw)
    except json.JSONDecodeError:
        raise MlopsError(f"{source}: hyperparameters are not valid JSON") from None
    if not isinstance(values, dict):
        raise MlopsError(f"{source}: hyperparameters must be a JSON object")
    return parse_hyperparameters(values, source)


class _Sigterm:
    """Turns SIGTERM (and SIGINT) into a flag the boosting loop checks after every round."""

    def __init__(self) -> None:
        self.received = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received = True


def run(env: Mapping[str, str] = os.environ, stop: _Sigterm | None = None) -> dict:
    """Train, write the artifact and `training-run.json`; returns the run's facts."""
    started = time.monotonic()
    stop = stop or _Sigterm()
    paths = ContainerPaths.from_environ(env)
    hp = load_hyperparameters(paths, env)
    train_frame, schema = read_channel(paths.train_dir)
    valid_frame, valid_schema = read_channel(paths.validation_dir)
    if valid_schema != schema:
        raise MlopsError(
            f"{paths.validation_dir}: schema differs from the training channel's schema"
        )
    data_hash = training_data_hash(train_frame)
    store = CheckpointStore(paths.checkpoint_dir, RunIdentity(hp.params_hash(), data_hash))
    result = train_booster(
        TrainingData.from_frame(train_frame, schema), hp, store, lambda: stop.received
    )

    valid = TrainingData.from_frame(valid_frame, schema)
    metrics = classification_metrics(valid.labels, result.booster.predict(valid.features))
    for name, value in metrics.as_dict().items():
        print(f"validation:{name}={value:.6f}", flush=True)  # for SageMaker metric definitions
    metadata = ModelMetadata(
        library_version=lgb.__version__,
        features=schema.feature_names,
        n_features=len(schema.feature_names),
        params=hp.model_params(),
        params_hash=hp.params_hash(),
        training_data_hash=data_hash,
        metrics={"validation": {**metrics.as_dict(), "rows": metrics.rows}},
        training={
            "iterations": result.iterations,
            "seed": hp.seed,
            "train_rows": train_frame.height,
        },
        categorical_features=schema.categorical,
        label=schema.label,
        objective="binary",
        model_name=env.get(Env.MODEL_NAME) or None,
    )
    write_artifact(paths.model_dir, result.model_text, metadata)
    run_facts = {
        "iterations": result.iterations,
        "resumed_from_iteration": result.resumed_from,
        "checkpoints_written": result.checkpoints_written,
        "wall_seconds": round(time.monotonic() - started, 3),
    }
    write_text_atomic(paths.run_file, dumps(run_facts))
    return run_facts


def _write_failure(env: Mapping[str, str], message: str) -> None:
    try:
        output = ContainerPaths.from_environ(env).output_dir
        output.mkdir(parents=True, exist_ok=True)
        (output / "failure").write_text(message + "\n", encoding="utf-8")
    except OSError:
        pass  # reporting the failure must not hide it


def main() -> int:
    stop = _Sigterm()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # Ctrl-C locally: checkpoint and stop, like SIGTERM
    try:
        facts = run(os.environ, stop)
    except Interrupted as interrupted:
        print(f"training: {interrupted}; run again to resume", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except MlopsError as error:
        _write_failure(os.environ, str(error))
        print(f"error: {error}", file=sys.stderr, flush=True)
        return error.exit_code
    except Exception as error:
        traceback.print_exc()
        _write_failure(os.environ, f"unexpected {type(error).__name__}: {error}"[:1000])
        return 1
    iterations, resumed = facts["iterations"], facts["resumed_from_iteration"]
    note = f", resumed from round {resumed}" if resumed is not None else ""
    print(f"training: {iterations} rounds done{note}", flush=True)
    return 0
