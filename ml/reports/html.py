"""Self-contained HTML: one page, inline CSS, inline SVG figures, no scripts or links out."""

from __future__ import annotations

import html as _html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ml.reports.markdown import MISSING, number

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#1f2328;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;
border-bottom:1px solid #d0d7de;padding-bottom:.3rem}.sub{color:#59636e;margin-top:0}
table{border-collapse:collapse;margin:.8rem 0;font-size:.92rem}
th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.bad td{background:#ffebe9}.badge{display:inline-block;padding:.1rem .5rem;
border-radius:1rem;font-weight:600;font-size:.85rem}.ok{background:#dafbe1;color:#116329}
.fail{background:#ffebe9;color:#a40e26}.warn{background:#fff8c5;color:#7d4e00}
figure{margin:1rem 0}figure svg{max-width:100%;height:auto}
figcaption{color:#59636e;font-size:.9rem}.grid{display:grid;
grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:1rem}
code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px}
"""


def escape(value: Any) -> str:
    return _html.escape(str(value), quote=True)


def page(title: str, sections: Sequence[str], subtitle: str = "") -> str:
    """A complete HTML document; `sections` are HTML fragments built with these helpers."""
    sub = f'<p class="sub">{escape(subtitle)}</p>' if subtitle else ""
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{escape(title)}</h1>{sub}\n{body}\n</body></html>\n"
    )


def section(title: str, *parts: str) -> str:
    return f"<section><h2>{escape(title)}</h2>\n" + "\n".join(parts) + "\n</section>"


def paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def badge(ok: bool | None, text: str | None = None) -> str:
    """A coloured pass/fail pill; `None` renders as a neutral warning pill."""
    kind = "warn" if ok is None else ("ok" if ok else "fail")
    label = text if text is not None else ("n/a" if ok is None else ("pass" if ok else "fail"))
    return f'<span class="badge {kind}">{escape(label)}</span>'


class Raw(str):
    """A cell value that is already HTML (e.g. a badge) and must not be escaped again."""


def _cell(value: Any) -> str:
    if isinstance(value, Raw):
        return f"<td>{value}</td>"
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, int | float) and not isinstance(value, bool):
        shown = (
            number(value)
            if not (isinstance(value, float) and not math.isfinite(value))
            else MISSING
        )
        return f'<td class="num">{escape(shown)}</td>'
    if value is None:
        return f"<td>{MISSING}</td>"
    return f"<td>{escape(value)}</td>"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], bad_rows: Sequence[bool] = ()
) -> str:
    """A table; numbers are right-aligned, `Raw` cells are inserted as HTML, rows whose
    `bad_rows` entry is true are highlighted."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for index, row in enumerate(rows):
        cls = ' class="bad"' if index < len(bad_rows) and bad_rows[index] else ""
        body.append(f"<tr{cls}>" + "".join(_cell(c) for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def key_values(items: Mapping[str, Any]) -> str:
    return table(["", ""], [[key, value] for key, value in items.items()]).replace(
        "<thead><tr><th></th><th></th></tr></thead>", ""
    )


def figure(svg: str, caption: str = "") -> str:
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f"<figure>{svg}{cap}</figure>"


def grid(*parts: str) -> str:
    return '<div class="grid">' + "".join(parts) + "</div>"
