"""The typed schema of `ml/params.yaml`: the one file a pull request changes to retrain.

Four sections, each a strict frozen model, so a typo is an error and never a silent
default:

- `data`: which snapshot of the churn dataset to generate and how to split it.
- `train`: the LightGBM hyperparameters, which also travel to the SageMaker job as its
  hyperparameters (`SM_HPS` / `hyperparameters.json`).
- `validation`: the release gates (per-metric tolerances against production, a latency
  bound, how many drifted features are acceptable).
- `drift`: the thresholds of the drift tests.

Row and feature subsampling (`bagging_fraction`, `feature_fraction`) are deliberately not
offered: LightGBM cannot restore its sampling random state from a checkpoint, so a job
resumed after a spot interruption would grow different trees than an uninterrupted one
(measured: predictions differ by up to 0.3). Without them, boosting is a deterministic
function of the data and these parameters, and resuming is exact.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common import validation
from common.errors import MlopsError
from common.files import read_yaml
from ml.paths import DEFAULT_PARAMS

# Keys SageMaker or its toolkits may add to a job's hyperparameters; never ours.
RESERVED_HYPERPARAMETER_PREFIXES = ("sagemaker_", "_")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(_Strict):
    """The dataset snapshot: generated deterministically from these values."""

    generator: Literal["churn-v1"] = "churn-v1"
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)]
    rows: Annotated[int, Field(ge=1_000, le=5_000_000)]
    validation_fraction: Annotated[float, Field(gt=0, lt=0.5)] = 0.2
    reference_fraction: Annotated[float, Field(gt=0, lt=0.5)] = 0.15


class TrainParams(_Strict):
    """LightGBM hyperparameters of the binary classifier, plus how often to checkpoint.

    Values may arrive as strings (SageMaker passes every hyperparameter as one); they are
    parsed into their types here.
    """

    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 42
    num_boost_round: Annotated[int, Field(ge=1, le=10_000)] = 100
    learning_rate: Annotated[float, Field(gt=0, le=1)] = 0.1
    num_leaves: Annotated[int, Field(ge=2, le=4096)] = 31
    max_depth: Annotated[int, Field(ge=-1, le=64)] = -1
    min_data_in_leaf: Annotated[int, Field(ge=1)] = 20
    min_sum_hessian_in_leaf: Annotated[float, Field(ge=0)] = 1e-3
    lambda_l1: Annotated[float, Field(ge=0)] = 0.0
    lambda_l2: Annotated[float, Field(ge=0)] = 0.0
    min_gain_to_split: Annotated[float, Field(ge=0)] = 0.0
    max_bin: Annotated[int, Field(ge=2, le=1024)] = 255
    num_threads: Annotated[int, Field(ge=1, le=64)] = 1
    """Fixed, because LightGBM's deterministic mode is only deterministic per thread count."""
    checkpoint_every: Annotated[int, Field(ge=1)] = 10
    """Write a checkpoint every this many boosting rounds (not part of the model)."""

    def model_params(self) -> dict[str, Any]:
        """The values that determine the model (everything but checkpoint frequency)."""
        return self.model_dump(exclude={"checkpoint_every"})

    def params_hash(self) -> str:
        """`sha256:<hex>` of the model-determining values in canonical JSON."""
        canonical = json.dumps(self.model_params(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def as_hyperparameters(self) -> dict[str, str]:
        """The job's hyperparameters as SageMaker stores them: every value a string."""
        return {key: json.dumps(value) for key, value in self.model_dump().items()}


MetricName = Literal["accuracy", "roc_auc", "log_loss"]


class ValidationParams(_Strict):
    """Release gates. A candidate passes when no metric is worse than production's by more
    than its tolerance, its single-row latency is under the bound, and no more features
    than allowed drift between its training data and the production reference."""

    tolerances: dict[MetricName, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: {"accuracy": 0.005, "roc_auc": 0.005, "log_loss": 0.01}
    )
    max_latency_p99_ms: Annotated[float, Field(gt=0)] = 10.0
    max_drifted_features: Annotated[int, Field(ge=0)] = 0
    latency_repeats: Annotated[int, Field(ge=10, le=100_000)] = 300
    explain_rows: Annotated[int, Field(ge=10, le=1_000_000)] = 1000
    """Validation rows the report's feature contributions are computed on (a fixed-seed
    sample when there are more): exact TreeSHAP costs about 2 ms a row for the churn model."""


class DriftParams(_Strict):
    """Drift thresholds; defaults from practice (KS p < 0.05 or statistic > 0.2, PSI > 0.2).

    With many features tested at once, some p-values fall under 0.05 by chance alone;
    `correction: bonferroni` (the default, as in alibi-detect) divides the p-value
    threshold by the number of tests. `none` applies the thresholds as written.
    """

    ks_pvalue: Annotated[float, Field(gt=0, lt=1)] = 0.05
    ks_statistic: Annotated[float, Field(gt=0, le=1)] = 0.2
    psi: Annotated[float, Field(gt=0)] = 0.2
    chi2_pvalue: Annotated[float, Field(gt=0, lt=1)] = 0.05
    psi_bins: Annotated[int, Field(ge=2, le=100)] = 10
    correction: Literal["bonferroni", "none"] = "bonferroni"


class Params(_Strict):
    """The whole `params.yaml`."""

    schema_version: Literal[1] = 1
    model: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,62}$")]
    data: DataParams
    train: TrainParams
    validation: ValidationParams = ValidationParams()
    drift: DriftParams = DriftParams()


def one_line(error: ValidationError, source: str) -> str:
    """Pydantic's first error as `source: key.path: what is wrong`, counting the others."""
    return validation.one_line(
        error,
        lambda location: f"{source}: {validation.dotted(location)}",
        source,
        missing="{key}: required key is missing{more}",
        unknown="{source}: unknown key {path!r}; check the spelling{more}",
        invalid="{key}: invalid value {value}: {message}{more}",
        rule="{key}: {message}{more}",
    )


def load_params(path: Path = DEFAULT_PARAMS) -> Params:
    """Read and validate a params file; every problem is one `MlopsError` line."""
    document = read_yaml(path, "params file")
    if not isinstance(document, dict):
        raise MlopsError(f"{path}: expected a mapping of sections (data, train, ...)")
    try:
        return Params.model_validate(document)
    except ValidationError as error:
        raise MlopsError(one_line(error, str(path))) from None


def parse_hyperparameters(values: Mapping[str, Any], source: str) -> TrainParams:
    """Training hyperparameters as a job receives them, with SageMaker's own keys dropped.

    An unknown key is an error, not ignored: a misspelt hyperparameter would otherwise
    train a different model than the pull request says.
    """
    ours = {
        key: value
        for key, value in values.items()
        if not key.startswith(RESERVED_HYPERPARAMETER_PREFIXES)
    }
    decoded = {key: _decode(value) for key, value in ours.items()}
    try:
        return TrainParams.model_validate(decoded)
    except ValidationError as error:
        first = error.errors()[0]
        if first["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(TrainParams.model_fields))
            raise MlopsError(
                f"{source}: unknown hyperparameter {first['loc'][0]!r} (allowed: {allowed})"
            ) from None
        raise MlopsError(one_line(error, source)) from None


def _decode(value: Any) -> Any:
    """SageMaker's string form back to JSON (`"0.1"` -> 0.1); other strings stay strings."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
