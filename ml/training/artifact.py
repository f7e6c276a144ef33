"""The model artifact directory, the contract between training, signing and serving.

    model.txt    LightGBM text model (`Booster.save_model`), the source of truth
    model.json   metadata: format_version 1, library and version, features in column
                 order, classes [0, 1], hyperparameters, training_data_hash, metrics,
                 training details (see `ModelMetadata`)

The classifier predicts P(class 1). `load_artifact` is the one reader (validation and the
inference server use it); it checks that the two files agree before anyone predicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.errors import MlopsError
from common.validation import dotted, one_line
from ml.reports.core import dumps, write_text_atomic
from ml.training.native import LightGBMError, NativeBooster

MODEL_FILE = "model.txt"
METADATA_FILE = "model.json"


class ModelMetadata(BaseModel):
    """`model.json`. Unknown keys are kept (other parts may add their own)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    format_version: int = Field(1, ge=1, le=1)
    library: str = "lightgbm"
    library_version: str
    features: list[str]
    n_features: int
    classes: list[int] = [0, 1]
    params: dict[str, Any]
    training_data_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    metrics: dict[str, Any] = {}
    training: dict[str, Any] = {}


@dataclass(frozen=True)
class ModelArtifact:
    """A loaded artifact: the booster (LightGBM's library, without its Python package's
    scikit-learn and pandas imports: `ml.training.native`) and its metadata."""

    path: Path
    booster: NativeBooster
    metadata: ModelMetadata

    @property
    def features(self) -> list[str]:
        return self.metadata.features

    @property
    def categorical_features(self) -> list[str]:
        return list(getattr(self.metadata, "categorical_features", None) or [])

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        """P(class 1) for each row of a float64 matrix whose columns are `features`."""
        return self.booster.predict(rows, num_threads=1)


def write_artifact(directory: Path, model_text: str, metadata: ModelMetadata) -> Path:
    """Write `model.txt` and `model.json` into `directory` (each atomically)."""
    directory.mkdir(parents=True, exist_ok=True)
    write_text_atomic(directory / MODEL_FILE, model_text)
    write_text_atomic(directory / METADATA_FILE, dumps(metadata.model_dump(mode="json")))
    return directory


def load_artifact(directory: Path) -> ModelArtifact:
    """Read an artifact directory; one-line `MlopsError` when it is missing or inconsistent."""
    model_path, meta_path = directory / MODEL_FILE, directory / METADATA_FILE
    if not directory.is_dir():
        raise MlopsError(f"{directory}: model artifact directory not found")
    for path in (model_path, meta_path):
        if not path.is_file():
            raise MlopsError(f"{directory}: not a model artifact ({path.name} is missing)")
    try:
        metadata = ModelMetadata.model_validate(json.loads(meta_path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise MlopsError(f"{meta_path}: malformed JSON") from None
    except ValidationError as error:
        raise MlopsError(one_line(error, lambda where: f"{meta_path}: {dotted(where)}")) from None
    if metadata.library != "lightgbm":
        raise MlopsError(f"{meta_path}: library {metadata.library!r} is not supported (lightgbm)")
    try:
        booster = NativeBooster(model_path.read_text(encoding="utf-8"))
    except LightGBMError as error:
        raise MlopsError(f"{model_path}: not a LightGBM model: {error.reason[:200]}") from None
    except UnicodeDecodeError as error:
        raise MlopsError(f"{model_path}: not a LightGBM model: {str(error)[:200]}") from None
    if booster.feature_name() != metadata.features or metadata.n_features != len(metadata.features):
        raise MlopsError(
            f"{directory}: model.json lists features {metadata.features} but model.txt "
            f"has {booster.feature_name()}"
        )
    return ModelArtifact(directory, booster, metadata)
