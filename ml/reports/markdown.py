"""Markdown pieces for pull-request comments: tables, pass/fail marks, numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

MISSING = "\u2013"  # en dash: no value
PASSED_MARK = "✅ pass"
FAILED_MARK = "❌ fail"


def status(ok: bool, passed: str = PASSED_MARK, failed: str = FAILED_MARK) -> str:
    return passed if ok else failed


def number(value: Any, digits: int = 4) -> str:
    """A number as a reader wants it: fixed digits, small p-values in scientific form."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return MISSING
        if value != 0 and abs(value) < 10 ** -(digits - 1):
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return cell(value)


def signed(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:+.{digits}f}"


def cell(value: Any) -> str:
    """Text safe inside a table cell: pipes escaped, newlines folded."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def code(value: Any) -> str:
    text = str(value).replace("`", "'")
    return f"`{text}`"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> str:
    """A GitHub-flavoured Markdown table; `align` is one letter per column (l, r, c)."""
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    rule = [marks.get(align[i] if i < len(align) else "l", ":--") for i in range(len(headers))]
    lines = [
        "| " + " | ".join(cell(h) for h in headers) + " |",
        "| " + " | ".join(rule) + " |",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def details(summary: str, body: str) -> str:
    """A collapsed block (GitHub renders `<details>`), for long tables in a PR comment."""
    return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"
