"""`churn-v1`: a deterministic synthetic customer-churn dataset (no download at run time).

Twenty features a subscription business would have (17 numeric, 3 categorical codes)
and a binary label `churned` drawn from a known logistic model with interactions, so a
tree ensemble has something real to learn (ROC AUC around 0.85). The same seed gives the
same table; the content hash (`ml.data.hashing.training_data_hash`) names it, so a
change in numpy's random streams would show up as a new hash, never silently.

`shift` moves chosen numeric features by a constant before the label is drawn: the
same customers in a different world, which is how the tests, the benchmark and the demo
make data that drifts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from common.errors import MlopsError
from ml.data.schema import DatasetSchema, Feature

NUMERIC = (
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls_90d",
    "avg_session_minutes",
    "sessions_per_week",
    "days_since_last_login",
    "num_products",
    "payment_failures_12m",
    "discount_pct",
    "data_usage_gb",
    "contract_months_remaining",
    "age",
    "num_devices",
    "referrals",
    "satisfaction_score",
    "late_payments_12m",
)
CATEGORICAL = ("plan", "region", "contract_type")
LABEL = "churned"

PERSONAL_DATA = ("age", "region", "payment_failures_12m", "late_payments_12m")
"""Columns about the customer as a person (age, where they live, how they pay), as opposed
to the product's usage; marked `personal_data` in the schema."""

CHURN_SCHEMA = DatasetSchema(
    features=tuple(
        Feature(name=n, kind="numeric", personal_data=n in PERSONAL_DATA) for n in NUMERIC
    )
    + tuple(
        Feature(name=n, kind="categorical", personal_data=n in PERSONAL_DATA) for n in CATEGORICAL
    ),
    label=LABEL,
)


def generate_churn(rows: int, seed: int, shift: Mapping[str, float] | None = None) -> pl.DataFrame:
    """`rows` customers with the 20 features of `CHURN_SCHEMA` and the `churned` label."""
    if rows < 1:
        raise MlopsError(f"rows must be at least 1 (got {rows})")
    unknown = sorted(set(shift or {}) - set(NUMERIC))
    if unknown:
        raise MlopsError(f"cannot shift {', '.join(unknown)}: shift applies to numeric features")
    rng = np.random.Generator(np.random.PCG64(seed))
    n = rows

    contract = rng.choice(3, size=n, p=[0.55, 0.28, 0.17])  # monthly, annual, two-year
    plan = rng.choice(4, size=n, p=[0.35, 0.35, 0.2, 0.1])  # basic .. family
    region = rng.choice(5, size=n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    tenure = rng.integers(1, 73, size=n).astype(float)
    monthly = 20 + 80 * rng.beta(2, 2, size=n) + 8 * plan
    total = tenure * monthly * rng.uniform(0.9, 1.1, size=n)
    calls = rng.poisson(1.2 + 0.4 * (plan == 0), size=n).astype(float)
    session_minutes = rng.lognormal(3.0, 0.5, size=n)
    sessions = rng.gamma(2.0, 2.0, size=n)
    last_login = rng.exponential(7.0, size=n)
    products = 1 + rng.poisson(0.8, size=n).astype(float)
    failures = rng.poisson(0.3, size=n).astype(float)
    discount = rng.choice([0.0, 5.0, 10.0, 15.0, 20.0], size=n, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    usage = rng.lognormal(2.0, 0.8, size=n)
    remaining = np.where(
        contract == 0, 0.0, rng.integers(0, 12 * contract + 1, size=n).astype(float)
    )
    age = np.clip(rng.normal(45, 14, size=n), 18, 90)
    devices = 1 + rng.poisson(1.5, size=n).astype(float)
    referrals = rng.poisson(0.4, size=n).astype(float)
    satisfaction = np.clip(np.round(rng.normal(7 - 0.5 * calls, 1.8)), 1, 10)
    late = rng.poisson(0.5 + 0.5 * failures, size=n).astype(float)

    columns: dict[str, np.ndarray] = {
        "tenure_months": tenure,
        "monthly_charges": np.round(monthly, 2),
        "total_charges": np.round(total, 2),
        "support_calls_90d": calls,
        "avg_session_minutes": np.round(session_minutes, 2),
        "sessions_per_week": np.round(sessions, 2),
        "days_since_last_login": np.round(last_login, 1),
        "num_products": products,
        "payment_failures_12m": failures,
        "discount_pct": discount,
        "data_usage_gb": np.round(usage, 3),
        "contract_months_remaining": remaining,
        "age": np.round(age, 0),
        "num_devices": devices,
        "referrals": referrals,
        "satisfaction_score": satisfaction,
        "late_payments_12m": late,
    }
    for name, delta in (shift or {}).items():
        columns[name] = columns[name] + delta

    c = columns
    logit = (
        -1.3
        + 1.1 * (contract == 0)
        - 0.6 * (contract == 2)
        - 0.035 * c["tenure_months"]
        + 0.018 * (c["monthly_charges"] - 60)
        + 0.30 * c["support_calls_90d"]
        + 0.045 * np.minimum(c["days_since_last_login"], 40)
        - 0.22 * (c["satisfaction_score"] - 7)
        + 0.55 * c["payment_failures_12m"]
        - 0.25 * (c["num_products"] - 1)
        - 0.08 * c["sessions_per_week"]
        + 0.02 * c["discount_pct"] * (contract == 0)
        + 0.35 * (region == 3)
        - 0.3 * c["referrals"]
        + 0.5 * (c["support_calls_90d"] >= 3) * (c["satisfaction_score"] <= 5)
        - 0.012 * (c["age"] - 45) * (plan == 3)
    )
    churned = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    frame = pl.DataFrame({name: columns[name] for name in NUMERIC})
    return frame.with_columns(
        pl.Series("plan", plan, dtype=pl.Int64),
        pl.Series("region", region, dtype=pl.Int64),
        pl.Series("contract_type", contract, dtype=pl.Int64),
        pl.Series(LABEL, churned, dtype=pl.Int64),
    )


@dataclass(frozen=True)
class Splits:
    """Train and validation carry the label; the production reference is features only
    (it is compared with captured requests, which have no label)."""

    train: pl.DataFrame
    validation: pl.DataFrame
    reference: pl.DataFrame


def split(
    frame: pl.DataFrame,
    schema: DatasetSchema,
    validation_fraction: float,
    reference_fraction: float,
    seed: int,
) -> Splits:
    """Disjoint random train / validation / reference splits, reproducible from `seed`."""
    n = frame.height
    n_valid = round(n * validation_fraction)
    n_ref = round(n * reference_fraction)
    if n_valid < 1 or n_ref < 1 or n - n_valid - n_ref < 1:
        raise MlopsError(
            f"{n} rows cannot be split into train, validation ({validation_fraction}) and "
            f"reference ({reference_fraction}) sets that are all non-empty"
        )
    order = np.random.Generator(np.random.PCG64(seed ^ 0x5EED)).permutation(n)
    valid_rows, ref_rows, train_rows = (
        np.sort(order[:n_valid]),
        np.sort(order[n_valid : n_valid + n_ref]),
        np.sort(order[n_valid + n_ref :]),
    )
    return Splits(
        train=frame[train_rows],
        validation=frame[valid_rows],
        reference=frame[ref_rows].select(schema.feature_names),
    )
