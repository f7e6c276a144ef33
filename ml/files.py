"""User-given files read with one-line errors (`MlopsError`, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ml.errors import MlopsError


def read_json(path: Path, label: str) -> Any:
    """The JSON document at `path`; else `<label>: cannot read (<why>)` or
    `<label>: not valid JSON`."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MlopsError(f"{label}: cannot read ({error.strerror})") from None
    except ValueError:
        raise MlopsError(f"{label}: not valid JSON") from None
