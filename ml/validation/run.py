"""`mlops validate`: a candidate against the production model, on held-out data.

Inputs are the candidate's artifact directory, production's (optional: a first model has
nothing to compare against, and only the absolute gates apply), and the data channels
the candidate was trained from (`train/`, `validation/`, `reference/`, as `mlops train`
writes them). The candidate's `training_data_hash` must match the `train/` channel, so a
report can never compare a model with data it was not trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from ml.data.hashing import training_data_hash
from ml.data.io import read_channel, read_table_csv
from ml.data.schema import DatasetSchema
from ml.drift.detect import DriftResult, detect_drift_frames
from ml.errors import MlopsError
from ml.params import Params
from ml.training.artifact import ModelArtifact, load_artifact
from ml.validation.explain import Explanation, explain
from ml.validation.gates import GateResult, evaluate_gates
from ml.validation.metrics import (
    Latency,
    Metrics,
    classification_metrics,
    roc_curve,
    single_row_latency,
)


@dataclass(frozen=True)
class ModelEvaluation:
    role: str
    path: Path
    metrics: Metrics
    latency: Latency
    roc: tuple[list[float], list[float]]
    training_data_hash: str
    params: dict
    explanation: Explanation | None = None
    """TreeSHAP contributions on validation rows (the candidate's only)."""


@dataclass(frozen=True)
class ValidationResult:
    candidate: ModelEvaluation
    production: ModelEvaluation | None
    gates: list[GateResult]
    drift: DriftResult
    reference_path: Path

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def failed(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]


def _matrix(frame: pl.DataFrame, artifact: ModelArtifact, source: Path) -> np.ndarray:
    missing = [f for f in artifact.features if f not in frame.columns]
    if missing:
        raise MlopsError(
            f"{source}: the validation data lacks feature(s) {', '.join(missing)} "
            f"that the model at {artifact.path} needs"
        )
    return frame.select(artifact.features).cast(pl.Float64).to_numpy(order="c")


def evaluate_model(
    role: str,
    artifact: ModelArtifact,
    frame: pl.DataFrame,
    label: str,
    source: Path,
    repeats: int,
    explain_rows: int | None = None,
) -> ModelEvaluation:
    rows = _matrix(frame, artifact, source)
    labels = frame.get_column(label).to_numpy()
    probabilities = artifact.predict_proba(rows)
    return ModelEvaluation(
        role=role,
        path=artifact.path,
        metrics=classification_metrics(labels, probabilities),
        latency=single_row_latency(artifact.predict_proba, rows, repeats),
        roc=roc_curve(labels, probabilities),
        training_data_hash=artifact.metadata.training_data_hash,
        params=artifact.metadata.params,
        explanation=(
            explain(artifact.booster, rows, artifact.features, explain_rows)
            if explain_rows
            else None
        ),
    )


def _reference(path: Path, schema: DatasetSchema) -> pl.DataFrame:
    if not path.is_file():
        raise MlopsError(f"{path}: production reference sample not found")
    return read_table_csv(path, schema.dtypes(with_label=False), schema.feature_names)


def validate(
    candidate_dir: Path,
    production_dir: Path | None,
    data_dir: Path,
    params: Params,
    reference_path: Path | None = None,
) -> ValidationResult:
    candidate = load_artifact(candidate_dir)
    production = load_artifact(production_dir) if production_dir is not None else None
    train_frame, schema = read_channel(data_dir / "train")
    data_hash = training_data_hash(train_frame)
    if data_hash != candidate.metadata.training_data_hash:
        raise MlopsError(
            f"{data_dir / 'train'}: this is not the data the candidate was trained on "
            f"(hash {data_hash[:19]}…, model.json says "
            f"{candidate.metadata.training_data_hash[:19]}…)"
        )
    validation_frame, validation_schema = read_channel(data_dir / "validation")
    if validation_schema != schema:
        raise MlopsError(f"{data_dir / 'validation'}: schema differs from the train channel's")
    reference_path = reference_path or data_dir / "reference" / "reference.csv"
    reference = _reference(reference_path, schema)

    repeats = params.validation.latency_repeats
    source = data_dir / "validation"
    cand = evaluate_model(
        "candidate",
        candidate,
        validation_frame,
        schema.label,
        source,
        repeats,
        params.validation.explain_rows,
    )
    prod = (
        evaluate_model("production", production, validation_frame, schema.label, source, repeats)
        if production is not None
        else None
    )
    drift = detect_drift_frames(
        reference.select(schema.feature_names),
        train_frame.select(schema.feature_names),
        schema.categorical,
        params.drift,
    )
    gates = evaluate_gates(
        cand.metrics, prod.metrics if prod else None, cand.latency, drift.drifted, params.validation
    )
    return ValidationResult(cand, prod, gates, drift, reference_path)
