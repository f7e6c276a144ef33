"""`mlops validate`: a candidate against the production model, on held-out data.

Inputs are the candidate's artifact directory, production's (optional: a first model has
nothing to compare against, and only the absolute gates apply), and the data channels
the candidate was trained from (`train/`, `validation/`, `reference/`, as `mlops train`
writes them). The candidate's `training_data_hash` must match the `train/` channel, so a
report can never compare a model with data it was not trained on.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from common.errors import MlopsError
from ml.data.hashing import training_data_hash
from ml.data.io import read_channel, read_table_csv
from ml.data.schema import DatasetSchema
from ml.drift.detect import DriftResult, detect_drift_frames
from ml.metrics import (
    Latency,
    Metrics,
    classification_metrics,
    roc_curve,
    single_row_latency,
)
from ml.params import Params
from ml.training.artifact import ModelArtifact, load_artifact
from ml.validation.explain import Explanation, explain
from ml.validation.gates import GateResult, evaluate_gates


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
    drift: DriftResult | None
    """None: no production reference to compare with (a first model)."""
    reference_path: str | None
    """Where production's reference came from (a path or an s3:// URI)."""

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


def production_reference_uri(data_bucket: str, model: str, production: ModelArtifact) -> str:
    """The reference channel of the data `production` was trained on, in the data bucket
    (where the launcher staged it, beside its stored statistics)."""
    from infra.contracts import s3_uri
    from ml.training.sagemaker import channel_prefix

    digest = production.metadata.training_data_hash
    return s3_uri(data_bucket, channel_prefix(model, digest, "reference") + "reference.csv")


def choose_reference(
    candidate: ModelArtifact,
    production: ModelArtifact | None,
    data_dir: Path,
    reference: str | Path | None,
    data_bucket: str | None,
    model: str,
) -> str | None:
    """Production's reference: the one given, or the one its training data hash names."""
    own = data_dir / "reference" / "reference.csv"
    same_snapshot = (
        production is not None
        and production.metadata.training_data_hash == candidate.metadata.training_data_hash
    )
    if reference is not None:
        inside = Path(str(reference)).resolve().is_relative_to(data_dir.resolve())
        if not same_snapshot and not str(reference).startswith("s3://") and inside:
            raise MlopsError(
                f"{reference}: a split of the candidate's own snapshot cannot show drift; "
                "pass production's reference (--reference, or --reference-bucket)"
            )
        return str(reference)
    if production is None:
        return None
    if data_bucket is not None:
        return production_reference_uri(data_bucket, model, production)
    if same_snapshot:
        return str(own)
    raise MlopsError(
        f"production {production.path} was trained on other data "
        f"({production.metadata.training_data_hash[:19]}…): pass --reference-bucket <data "
        "bucket> (its reference channel) or --reference <production's reference sample>"
    )


def _reference_frame(
    location: str, schema: DatasetSchema, s3_client: Callable[[], Any] | None
) -> pl.DataFrame:
    if not location.startswith("s3://"):
        return _reference(Path(location), schema)
    from ml.drift.sources import materialize

    if s3_client is None:
        from ml import aws

        def s3_client() -> Any:
            return aws.client("s3")

    with tempfile.TemporaryDirectory(prefix="mlops-validate-") as work:
        return _reference(materialize(location, Path(work), s3_client), schema)


def validate(
    candidate_dir: Path,
    production_dir: Path | None,
    data_dir: Path,
    params: Params,
    reference: str | Path | None = None,
    data_bucket: str | None = None,
    s3_client: Callable[[], Any] | None = None,
) -> ValidationResult:
    """`reference`/`data_bucket`: production's reference (`choose_reference`)."""
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
    model = params.model
    location = choose_reference(candidate, production, data_dir, reference, data_bucket, model)
    reference_frame = _reference_frame(location, schema, s3_client) if location else None

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
    drift = (
        detect_drift_frames(
            reference_frame.select(schema.feature_names),
            train_frame.select(schema.feature_names),
            schema.categorical,
            params.drift,
        )
        if reference_frame is not None
        else None
    )
    gates = evaluate_gates(
        cand.metrics,
        prod.metrics if prod else None,
        cand.latency,
        drift.drifted if drift else None,
        params.validation,
    )
    return ValidationResult(cand, prod, gates, drift, location)
