"""Log a training run to MLflow and name the run wherever the model goes next.

Where runs go: `MLFLOW_TRACKING_URI` (`Env.MLFLOW_TRACKING_URI`) when set, e.g. the
stack's SageMaker managed tracking server ARN (the `sagemaker-mlflow` plugin signs the
requests with the caller's AWS credentials); otherwise a local SQLite store,
`build/mlruns/mlflow.db`, with no server process (open it with
`mlflow ui --backend-store-uri sqlite:///build/mlruns/mlflow.db`).

What a run holds: the hyperparameters and the params/data hashes as parameters; the
validation metrics and training/billable time and spot savings as metrics; the data hash,
the artifact's location and its manifest digest as tags. The artifact itself is not
uploaded: it is signed and stored by `mlops register`, and the digest names it exactly.
So logging needs only the tracking API (no S3 write, no key), which is what the launcher
roles are granted on the tracking server (infra/components/permissions.py).

The calls are exactly these (the IAM grant lists their actions): GetExperimentByName,
CreateExperiment (first run of a model), CreateRun, LogBatch, GetRun and UpdateRun
(MLflow's `set_terminated` reads the run before it ends it); tests/ml/tracking/test_tracking.py
records them against a fake server.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from common.errors import MlopsError
from infra.contracts import Env

LOCAL_STORE = Path("build/mlruns/mlflow.db")
"""The offline store, relative to the working directory (the repository in CI and here)."""


class TrackingLink(BaseModel):
    """Which MLflow run a record, report or registry entry belongs to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tracking_uri: str
    experiment_id: str
    run_id: str

    def describe(self) -> str:
        return f"MLflow run {self.run_id} (experiment {self.experiment_id}) at {self.tracking_uri}"


def tracking_uri(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    """`MLFLOW_TRACKING_URI`, or the local SQLite store under `build/` (created if needed)."""
    environ = os.environ if environ is None else environ
    configured = environ.get(Env.MLFLOW_TRACKING_URI, "").strip()
    if configured:
        return configured
    store = (cwd or Path.cwd()) / LOCAL_STORE
    store.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{store.resolve()}"


def log_training_run(
    *,
    experiment: str,
    run_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float | None],
    tags: Mapping[str, str | None],
    uri: str | None = None,
) -> TrackingLink:
    """One finished MLflow run with these params, metrics (None: unknown, left out) and tags.

    A tracking server that refuses or cannot be reached is a one-line `MlopsError` (exit 1)
    naming the URI; the training itself has already succeeded and its record is written.
    """
    uri = uri or tracking_uri()
    for name in ("mlflow", "alembic"):  # schema migrations of a new store log at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    import mlflow
    from botocore.exceptions import BotoCoreError
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        with _global_uri(mlflow, uri):
            client = MlflowClient(tracking_uri=uri)
            return _log(client, uri, experiment, run_name, params, metrics, tags)
    except (MlflowException, BotoCoreError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise MlopsError(f"experiment tracking at {uri} failed: {first}", 1) from None


@contextmanager
def _global_uri(mlflow: Any, uri: str) -> Iterator[None]:
    """The sagemaker-mlflow plugin signs requests for mlflow's *global* URI, not the
    client's; `set_tracking_uri` also writes it to the process's `MLFLOW_TRACKING_URI`.
    Both are put back afterwards, so one run's server never leaks into the next."""
    from mlflow.tracking._tracking_service import utils

    previous, environment = utils._tracking_uri, os.environ.get(Env.MLFLOW_TRACKING_URI)
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)
        if environment is None:
            os.environ.pop(Env.MLFLOW_TRACKING_URI, None)
        else:
            os.environ[Env.MLFLOW_TRACKING_URI] = environment


def _log(
    client: Any,
    uri: str,
    experiment: str,
    run_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float | None],
    tags: Mapping[str, str | None],
) -> TrackingLink:
    """Create the run in `experiment` (made if missing) with everything, and finish it."""
    from mlflow.entities import Metric, Param, RunTag

    found = client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id if found is not None else client.create_experiment(experiment)
    )
    run = client.create_run(experiment_id, run_name=run_name)
    run_id = run.info.run_id
    timestamp = run.info.start_time
    client.log_batch(
        run_id,
        metrics=[
            Metric(key, float(value), timestamp, 0)
            for key, value in sorted(metrics.items())
            if value is not None
        ],
        params=[Param(key, str(value)) for key, value in sorted(params.items())],
        tags=[RunTag(key, value) for key, value in sorted(tags.items()) if value],
    )
    client.set_terminated(run_id, "FINISHED")
    return TrackingLink(tracking_uri=uri, experiment_id=experiment_id, run_id=run_id)


def read_run(link: TrackingLink) -> dict[str, Any]:
    """The run's params, metrics and tags as MLflow stored them (for reports and tests)."""
    from mlflow.tracking import MlflowClient

    data = MlflowClient(tracking_uri=link.tracking_uri).get_run(link.run_id).data
    return {"params": dict(data.params), "metrics": dict(data.metrics), "tags": dict(data.tags)}
