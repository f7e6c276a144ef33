"""What a training run leaves for the registry: where the model is, how long it took,
and what managed spot training saved.

Spot savings follow SageMaker's own definition: `1 - BillableTimeInSeconds /
TrainingTimeInSeconds`, in percent. Either value may be absent (a job that has not
finished, or the embedded emulator, whose jobs complete at once and report neither);
the saving is then unknown (`None`), never guessed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from common.errors import MlopsError
from ml.reports.core import dumps, write_text_atomic
from ml.tracking.runs import TrackingLink

RECORD_FILE = "training.json"


class TrainingRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["local", "sagemaker"]
    model: str
    status: str
    job_name: str | None = None
    artifact: str
    """Local artifact directory, or the S3 URI of the job's `model.tar.gz`."""
    checkpoint_uri: str
    params_hash: str
    training_data_hash: str | None = None
    managed_spot: bool = False
    training_time_seconds: float | None = None
    billable_time_seconds: float | None = None
    spot_savings_percent: float | None = None
    failure_reason: str | None = None
    resumed_from_iteration: int | None = None
    """The checkpoint's round a (spot-)interrupted run resumed from; None: it ran through."""
    reference_uri: str | None = None
    """The production reference sample of this training data, for drift monitoring."""
    hyperparameters: dict[str, Any] = {}
    """The params file's `train` section the run used (logged as MLflow params)."""
    metrics: dict[str, float] = {}
    """Validation metrics the entry point wrote into model.json (logged as MLflow metrics)."""
    artifact_digest: str | None = None
    """Manifest digest (hex) of the downloaded/written model directory: the artifact's identity."""
    tracking: TrackingLink | None = None
    """The MLflow run of this training (docs/tracking.md); None only before it is logged."""

    def tracked(self, uri: str | None = None) -> TrainingRecord:
        """Log this run to MLflow (`ml.tracking.runs`) and return the record naming it."""
        from ml.tracking.runs import log_training_run

        link = log_training_run(
            experiment=self.model,
            run_name=self.job_name or f"local-{self.params_hash[:12]}",
            params={
                **self.hyperparameters,
                "params_hash": self.params_hash,
                "training_data_hash": self.training_data_hash,
            },
            metrics={
                **self.metrics,
                "training_time_seconds": self.training_time_seconds,
                "billable_time_seconds": self.billable_time_seconds,
                "spot_savings_percent": self.spot_savings_percent,
            },
            tags={
                "mlops.mode": self.mode,
                "mlops.status": self.status,
                "mlops.training_data_hash": self.training_data_hash,
                "mlops.artifact": self.artifact,
                "mlops.artifact_digest": f"sha256:{self.artifact_digest}"
                if self.artifact_digest
                else None,
                "mlops.job_name": self.job_name,
                "mlops.managed_spot": str(self.managed_spot).lower(),
            },
            uri=uri,
        )
        return self.model_copy(update={"tracking": link})

    def registry_values(self) -> dict[str, Any]:
        """What the model registry records of this run (`mlops register --training-record`):
        training and billable minutes, the spot savings and the MLflow run."""

        def minutes(seconds: float | None) -> float | None:
            return None if seconds is None else round(seconds / 60, 3)

        return {
            "training_minutes": minutes(self.training_time_seconds),
            "billable_minutes": minutes(self.billable_time_seconds),
            "spot_savings_percent": self.spot_savings_percent,
            "tracking_run_id": self.tracking.run_id if self.tracking else None,
            "tracking_uri": self.tracking.tracking_uri if self.tracking else None,
        }

    def write(self, out_dir: Path) -> Path:
        path = out_dir / RECORD_FILE
        write_text_atomic(path, dumps(self.model_dump(mode="json")))
        return path

    @classmethod
    def read(cls, path: Path) -> TrainingRecord:
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise MlopsError(f"{path}: training record not found") from None
        except (json.JSONDecodeError, ValidationError) as error:
            raise MlopsError(
                f"{path}: malformed training record: {str(error).splitlines()[0]}"
            ) from None


def training_run_of(candidate: Path, record: Path | None = None) -> TrackingLink | None:
    """The MLflow run of a candidate artifact directory: from `record`, else from the
    `training.json` `mlops train` wrote beside it; None when there is neither."""
    path = record or candidate.parent / RECORD_FILE
    return TrainingRecord.read(path).tracking if path.is_file() else None


def spot_savings_percent(
    training_seconds: float | None, billable_seconds: float | None
) -> float | None:
    """Percent of training time not billed thanks to spot pricing, or None if unknown."""
    if training_seconds is None or billable_seconds is None or training_seconds <= 0:
        return None
    return round(100.0 * (1.0 - billable_seconds / training_seconds), 2)


def validation_metrics(metadata: dict[str, Any]) -> dict[str, float]:
    """The numeric validation metrics of a model.json (row counts are not metrics)."""
    validation = (metadata.get("metrics") or {}).get("validation") or {}
    return {
        name: float(value)
        for name, value in validation.items()
        if isinstance(value, int | float) and name != "rows"
    }
