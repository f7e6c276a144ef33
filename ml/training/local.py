"""`mlops train --local`: the entry point as a local process with the container's layout.

    <out>/data/{train,validation,reference}/   channels (generated from params.data
                                               unless --data names existing ones)
    <out>/model/                               SM_MODEL_DIR: model.txt + model.json
    <out>/checkpoints/                         checkpoints (kept between runs: resume)
    <out>/output/                              SM_OUTPUT_DIR: `failure` on bad input,
                                               data/training-run.json (resumed from, ...)
    <out>/training.json                        the TrainingRecord

The process gets the environment a SageMaker job gets (`SM_*`), so what runs here is
exactly what runs on the instance. Interrupt it (Ctrl-C or SIGTERM) and run the same
command again: it resumes from the newest checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from common.errors import MlopsError
from ml.params import Params
from ml.provenance.manifest import build_manifest
from ml.training.entry import EXIT_INTERRUPTED, ContainerPaths
from ml.training.record import TrainingRecord, validation_metrics
from ml.training.snapshot import prepare_snapshot


@dataclass(frozen=True)
class LocalLayout:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def output(self) -> Path:
        return self.root / "output"


def container_environment(
    params: Params,
    layout: LocalLayout,
    data_dir: Path,
    base: dict[str, str] | None = None,
    checkpoints: Path | None = None,
) -> dict[str, str]:
    """The environment of the training process: the caller's plus SageMaker's variables."""
    paths = ContainerPaths(
        model_dir=layout.model,
        train_dir=data_dir / "train",
        validation_dir=data_dir / "validation",
        config_dir=layout.root / "config",
        output_dir=layout.output,
        checkpoint_dir=checkpoints or layout.checkpoints,
    )
    env = dict(os.environ if base is None else base)
    env.update(paths.environment(params.train.model_dump(), model_name=params.model))
    return env


def run_local(
    params: Params, out: Path, data_dir: Path | None = None, fresh: bool = False
) -> TrainingRecord:
    """Train in a child process; resumes from `<out>/checkpoints` unless `fresh`.

    Checkpoints of another configuration (other hyperparameters or data) are refused by
    the entry point with a one-line error; `fresh` deletes them first.
    """
    layout = LocalLayout(out)
    if fresh:
        shutil.rmtree(layout.checkpoints, ignore_errors=True)
    shutil.rmtree(layout.model, ignore_errors=True)
    (layout.output / "failure").unlink(missing_ok=True)
    if data_dir is None:
        data_dir = prepare_snapshot(params.data, layout.data).root
    for channel in ("train", "validation"):
        if not (data_dir / channel).is_dir():
            raise MlopsError(f"{data_dir}: no {channel}/ channel directory (see ml/data/io.py)")
    checkpoints = layout.checkpoints
    env = container_environment(params, layout, data_dir)
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "ml.training"], env=env)
    try:
        code = process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGTERM)  # let it checkpoint, as a spot interruption does
        process.wait()
        raise MlopsError("training interrupted; run the same command again to resume", 1) from None
    elapsed = round(time.monotonic() - started, 3)
    if code != 0:
        failure = layout.output / "failure"
        reason = failure.read_text(encoding="utf-8").strip() if failure.is_file() else ""
        if code in (EXIT_INTERRUPTED, -signal.SIGTERM):
            raise MlopsError("training interrupted; run the same command again to resume", 1)
        raise MlopsError(reason or f"training failed with exit code {code}", 2 if code == 2 else 1)
    metadata = json.loads((layout.model / "model.json").read_text(encoding="utf-8"))
    run = json.loads(ContainerPaths.from_environ(env).run_file.read_text(encoding="utf-8"))
    record = TrainingRecord(
        mode="local",
        model=params.model,
        status="Completed",
        artifact=str(layout.model),
        checkpoint_uri=str(checkpoints),
        params_hash=metadata["params_hash"],
        training_data_hash=metadata["training_data_hash"],
        managed_spot=False,
        training_time_seconds=elapsed,
        resumed_from_iteration=run["resumed_from_iteration"],
        reference_uri=str(data_dir / "reference" / "reference.csv")
        if (data_dir / "reference" / "reference.csv").is_file()
        else None,
        hyperparameters=params.train.model_dump(mode="json"),
        metrics=validation_metrics(metadata),
        artifact_digest=build_manifest(layout.model).digest(),
    )
    record.write(out)  # written before tracking: a tracking failure loses no training
    record = record.tracked()
    record.write(out)
    return record
