"""One rendering layer for every report `mlops` writes.

A report is written three ways from the same numbers: Markdown that fits a pull-request
comment (`markdown`), JSON with every number for machines, and a self-contained HTML page
with inline SVG plots for people (`html.render` of a Jinja2 template in `templates/`, plots
from `plots`; no CDN, no external font: it opens from a CI artifact or an air-gapped laptop
alike). Commands build the three and hand them to `write_reports`:

    from ml.reports import write_reports, markdown as md, plots
    from ml.reports.html import render

    page = render("drift.html", title=..., subtitle=..., drift=...)
    paths = write_reports(out_dir, "drift", markdown=text, data=numbers, html=page)
"""

from ml.reports.core import ReportPaths, to_jsonable, write_reports

__all__ = ["ReportPaths", "to_jsonable", "write_reports"]
