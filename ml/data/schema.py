"""The shape of a tabular dataset: its features in model order, their kinds, its label."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.errors import MlopsError

SCHEMA_FILE = "schema.json"
_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class Feature(BaseModel):
    """One model input column. Categorical features are integer codes (LightGBM reads
    them natively, and a serving request stays all-numeric)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=_NAME)]
    kind: Literal["numeric", "categorical"]
    personal_data: bool = False
    """The column describes the person a row is about (demographics, location, payment
    behaviour): personal data under GDPR art. 4(1) and "personal information" under CCPA.
    Captured requests carry it, so the capture bucket's retention applies to it; the audit
    report lists these columns as evidence (docs/policies.md, retention)."""


class DatasetSchema(BaseModel):
    """Features in the order the model takes them, and the binary label column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: tuple[Feature, ...]
    label: Annotated[str, Field(pattern=_NAME)]

    @model_validator(mode="after")
    def _unique(self) -> DatasetSchema:
        names = [f.name for f in self.features] + [self.label]
        if len(set(names)) != len(names):
            raise ValueError("feature and label names must be unique")
        if not self.features:
            raise ValueError("a dataset needs at least one feature")
        return self

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical(self) -> list[str]:
        return [f.name for f in self.features if f.kind == "categorical"]

    @property
    def personal_data(self) -> list[str]:
        return [f.name for f in self.features if f.personal_data]

    @property
    def numeric(self) -> list[str]:
        return [f.name for f in self.features if f.kind == "numeric"]

    def dtypes(self, with_label: bool = True) -> dict[str, pl.DataType]:
        """The polars types every reader casts to: Float64 numerics, Int64 codes and label."""
        types: dict[str, pl.DataType] = {
            f.name: pl.Float64() if f.kind == "numeric" else pl.Int64() for f in self.features
        }
        if with_label:
            types[self.label] = pl.Int64()
        return types

    def write(self, directory: Path) -> Path:
        path = directory / SCHEMA_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, directory: Path) -> DatasetSchema:
        path = directory / SCHEMA_FILE
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise MlopsError(f"{path}: dataset schema not found next to the data") from None
        except (json.JSONDecodeError, ValidationError) as error:
            detail = " ".join(str(error).split())[:200]
            raise MlopsError(f"{path}: malformed dataset schema: {detail}") from None
