"""The audit report written in one of its formats: Markdown, JSON, SARIF or HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common.errors import MlopsError
from ml.audit.html import render_html
from ml.audit.markdown import render_markdown
from ml.audit.report import to_json
from ml.audit.sarif import render_sarif
from ml.reports.core import write_text_atomic

FORMATS = ("md", "json", "sarif", "html")
"""Report formats, by file suffix."""


def render_report(report: dict[str, Any], format: str, root: Path) -> str:
    """The report as text in `format`; SARIF locations are relative to `root`."""
    if format == "sarif":
        return render_sarif(report, root.resolve())
    renderers = {"md": render_markdown, "json": to_json, "html": render_html}
    return renderers[format](report)


def write_report(report: dict[str, Any], format: str, target: Path, root: Path) -> None:
    """Write the report in `format` to `target` (creating its folder); a one-line
    `MlopsError` when it cannot be written."""
    text = render_report(report, format, root)
    try:
        write_text_atomic(target, text)
    except OSError as error:
        raise MlopsError(f"{target}: cannot write the report ({error.strerror})") from None
