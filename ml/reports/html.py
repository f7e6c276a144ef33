"""Every HTML page `mlops` writes, rendered from the Jinja2 templates in `templates/`.

One cached environment, escaping every value (`autoescape`) and refusing a name the page
does not get (`StrictUndefined`), loads the templates from the installed package, so a
wheel renders the same pages as the repository. `base.html` holds the layout and the
shared stylesheet; `macros.html` the table, badge and figure every page uses. Pages are
self-contained: inline CSS and SVG, no CDN, no external font, a script only where a page
needs one (the audit's filters). Python hands the templates numbers, text and
`markupsafe.Markup` figures (`ml/reports/plots.py`, built from numbers, labels escaped
there); anything else a page prints is escaped.

jinja2 is imported on the first render, not with this module: the CLI's start-up stays
light (tests/ml/cli/test_cli_startup.py).
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ml.reports.markdown import MISSING, number

if TYPE_CHECKING:
    import jinja2

TEMPLATES = "templates"
"""The templates' folder inside the `ml.reports` package (shipped as package data)."""


@dataclass(frozen=True)
class Badge:
    """A coloured pass/fail pill in a page or a table cell; `ok=None` is a neutral one."""

    ok: bool | None
    text: str | None = None

    @property
    def kind(self) -> str:
        return "warn" if self.ok is None else ("ok" if self.ok else "fail")

    @property
    def label(self) -> str:
        if self.text is not None:
            return self.text
        return "n/a" if self.ok is None else ("pass" if self.ok else "fail")


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """The compiled templates kept between processes, in a folder only this user may
    write (`$XDG_CACHE_HOME/mlops/templates`, else `~/.cache/...`): compiling them costs
    more than writing a drift report (issue 18). None, so every process compiles, where
    there is no such folder (a read-only container) or someone else could write it."""
    import jinja2

    class Cache(jinja2.FileSystemBytecodeCache):
        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            with contextlib.suppress(OSError):  # a full or read-only disk: compile next time
                super().dump_bytecode(bucket)

    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(root, "mlops", "templates")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.stat(folder)
    except OSError:
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o022 or not os.access(folder, os.W_OK):
        return None
    return Cache(folder)


@functools.cache
def environment() -> jinja2.Environment:
    """The one template environment (templates compiled once, then read from the cache)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ml.reports", TEMPLATES),
        bytecode_cache=_bytecode_cache(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["number"] = number
    env.tests["badge"] = lambda value: isinstance(value, Badge)
    env.globals["MISSING"] = MISSING
    return env


def render(template: str, **context: Any) -> str:
    """The page `template` (a file under `templates/`) rendered with `context`."""
    return environment().get_template(template).render(**context)
