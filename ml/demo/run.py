"""Run the demo: pick the report folder, run the steps with the emulator, write the index."""

from __future__ import annotations

import json
import shutil
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from common.errors import MlopsError
from ml.demo.report import REPORT_KIND, DemoSummary, Enforcement, write_summary
from ml.demo.runner import capture_output, run_steps
from ml.demo.steps import DemoRun, DemoSettings

DEFAULT_BASE = Path("build/demo")
LATEST = "latest"


def report_folder(out: Path | None, base: Path = DEFAULT_BASE, now: datetime | None = None) -> Path:
    """`out` if given (a previous demo's folder there is replaced, anything else refused),
    else a new `build/demo/<UTC timestamp>` that `build/demo/latest` will point to."""
    if out is not None:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            if not _is_demo_folder(out):
                raise MlopsError(
                    f"--out {out} exists and is not a demo report folder; choose a new or "
                    "empty directory"
                )
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        return out
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    folder = base / stamp
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = base / f"{stamp}-{suffix}"
    folder.mkdir(parents=True)
    return folder


def _is_demo_folder(path: Path) -> bool:
    try:
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and summary.get("report") == REPORT_KIND


def point_latest(folder: Path, base: Path = DEFAULT_BASE) -> None:
    """`build/demo/latest` -> the newest timestamped folder (a relative symlink)."""
    if folder.parent.resolve() != base.resolve():
        return
    link = base / LATEST
    if link.is_symlink() or link.is_file():
        link.unlink()
    elif link.exists():
        return  # a real directory someone made: leave it alone
    link.symlink_to(folder.name, target_is_directory=True)


AUTHORISED_CALLS = Path("emulator") / "authorised-calls.json"
"""Every call IAM enforcement authorised: role, action, resource, the statements that
allowed it (what the grant-usage test reads)."""


def _enforcement(settings: DemoSettings) -> Enforcement:
    """The ledger's totals, and every authorised call written to the report folder."""
    from ml.emulator.iam import LEDGER
    from ml.reports.core import dumps, write_text_atomic

    calls = [
        {
            "role": call.role,
            "action": call.action,
            "resource": call.resource,
            "statements": [{"policy": policy, "sid": sid} for policy, sid in call.statements],
        }
        for call in LEDGER.calls
    ]
    write_text_atomic(settings.out / AUTHORISED_CALLS, dumps({"calls": calls}))
    denied = LEDGER.denials[0].line() if LEDGER.denials else None
    return Enforcement(settings.enforce_iam, len(calls), len(LEDGER.identities()), denied)


def run_demo(settings: DemoSettings, console: Console | None = None) -> DemoSummary:
    """Run every step; the display goes to `console` (default: stdout), the rest to
    `<out>/demo.log`. Never raises for a failed step: the summary says which failed."""
    started_at = datetime.now(UTC)
    started = time.monotonic()
    with capture_output(settings.out / "demo.log") as display, ExitStack() as exits:
        shown = console or display
        shown.print(
            f"mlops demo: the {settings.stack} release on the embedded AWS emulator; "
            f"report folder {settings.out}"
        )
        demo = DemoRun(settings, exits)
        results = run_steps(demo.steps(), shown)
        exits.close()  # stop the emulator before the summary is written
        enforcement = _enforcement(settings)
        demo.link(
            "Emulator", "Every call IAM enforcement authorised", settings.out / AUTHORISED_CALLS
        )
        summary = DemoSummary(
            stack=settings.stack,
            out=settings.out,
            started=started_at,
            seconds=time.monotonic() - started,
            results=results,
            reports=demo.reports,
            facts=demo.facts,
            identities=demo.identities,
            enforcement=enforcement,
        )
        write_summary(summary)
    return summary
