"""Writing a report's three files, and turning results into strict JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np
from pydantic import BaseModel

from common.errors import MlopsError


@dataclass(frozen=True)
class ReportPaths:
    """Where one report's three renderings were written."""

    markdown: Path
    json: Path
    html: Path


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for `value`: numpy scalars and arrays, dataclasses, pydantic models,
    paths, dates and enums are converted; NaN and infinities become `null` (JSON has none).
    """
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, np.ndarray):
        return [to_jsonable(item) for item in value.tolist()]
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump(mode="python"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [to_jsonable(item) for item in items]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    raise TypeError(f"cannot write {type(value).__name__} to a JSON report")


def dumps(data: Any) -> str:
    """Strict, stable JSON text (sorted keys are left to the caller: order is meaningful)."""
    return json.dumps(to_jsonable(data), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def write_text_atomic(path: Path, text: str) -> None:
    """Write `path` through a temporary file and a rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_reports(
    out_dir: Path, name: str, *, markdown: str, data: Mapping[str, Any], html: str
) -> ReportPaths:
    """Write `<name>.md`, `<name>.json` and `<name>.html` into `out_dir` (created if needed)."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"report name {name!r} must be a plain file stem")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = ReportPaths(
            markdown=out_dir / f"{name}.md",
            json=out_dir / f"{name}.json",
            html=out_dir / f"{name}.html",
        )
        write_text_atomic(paths.json, dumps(data))
        write_text_atomic(paths.markdown, markdown if markdown.endswith("\n") else markdown + "\n")
        write_text_atomic(paths.html, html)
    except OSError as error:
        raise MlopsError(f"cannot write the {name} report to {out_dir}: {error.strerror}") from None
    return paths
