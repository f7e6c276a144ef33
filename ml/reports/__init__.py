"""One small rendering layer for every report `mlops` writes.

A report is written three ways from the same numbers: Markdown that fits a pull-request
comment, JSON with every number for machines, and a self-contained HTML page with inline
SVG plots for people (no CDN, no script, no external font: it opens from a CI artifact or
an air-gapped laptop alike). Commands build the three texts with the helpers here and
hand them to `write_reports`:

    from ml.reports import write_reports, markdown as md, html, plots

    paths = write_reports(out_dir, "drift", markdown=text, data=numbers, html=page)
"""

from ml.reports.core import ReportPaths, to_jsonable, write_reports

__all__ = ["ReportPaths", "to_jsonable", "write_reports"]
