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
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from common.errors import MlopsError
from ml.reports.core import dumps, write_text_atomic

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

    def registry_values(self) -> dict[str, float | None]:
        """What the model registry records of this run (`mlops register --training-record`):
        training and billable minutes, and the spot savings."""

        def minutes(seconds: float | None) -> float | None:
            return None if seconds is None else round(seconds / 60, 3)

        return {
            "training_minutes": minutes(self.training_time_seconds),
            "billable_minutes": minutes(self.billable_time_seconds),
            "spot_savings_percent": self.spot_savings_percent,
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


def spot_savings_percent(
    training_seconds: float | None, billable_seconds: float | None
) -> float | None:
    """Percent of training time not billed thanks to spot pricing, or None if unknown."""
    if training_seconds is None or billable_seconds is None or training_seconds <= 0:
        return None
    return round(100.0 * (1.0 - billable_seconds / training_seconds), 2)
