"""User-given files read with one-line errors (`MlopsError`, exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from common.errors import MlopsError


def read_json(path: Path, label: str) -> Any:
    """The JSON document at `path`; else `<label>: cannot read (<why>)` or
    `<label>: not valid JSON`."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MlopsError(f"{label}: cannot read ({error.strerror})") from None
    except ValueError:
        raise MlopsError(f"{label}: not valid JSON") from None


def read_yaml(path: Path, what: str, error: type[MlopsError] = MlopsError) -> Any:
    """The YAML document at `path`; a missing, unreadable or malformed file is one `error`
    line naming `what` it is (e.g. "params file") and, for bad syntax, the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except OSError as failure:
        raise error(f"{path}: cannot read the {what} ({failure.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as failure:
        mark = getattr(failure, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise error(f"{path}: malformed YAML{where}; fix the syntax") from None
