"""Run named steps in order with one line of progress each; everything else goes to a log.

The display is the demo's only output: a spinner with the running step's title (and its
latest note) on a terminal, then one line per finished step with its status, its time
and a one-line result. Library logs, the training process's output and anything else
written to this process's stdout or stderr go to the log file instead: `capture_output`
points file descriptors 1 and 2 at the log (so child processes inherit it too) and hands
back a console on the original stdout for the display.

A step fails by raising; `MlopsError` gives its one-line reason, anything else is
reported as unexpected, with its traceback in the log. Steps after a failure are
skipped: each builds on the previous ones.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.markup import escape

from common.errors import MlopsError

log = logging.getLogger("ml.demo")

Status = Literal["passed", "failed", "skipped"]
MARKS = {"passed": "[green]✓[/]", "failed": "[red]✗[/]", "skipped": "[dim]-[/]"}


class Progress:
    """What a running step may do besides returning: update the spinner's note."""

    def __init__(self, update: Callable[[str], None]):
        self._update = update

    def note(self, text: str) -> None:
        log.info("%s", text)
        self._update(text)


@dataclass(frozen=True)
class Step:
    name: str
    """Short identifier, used in the JSON summary."""
    title: str
    run: Callable[[Progress], str]
    """Does the work; returns one line saying what came out of it."""


@dataclass(frozen=True)
class StepResult:
    name: str
    title: str
    status: Status
    seconds: float
    detail: str


def run_steps(steps: list[Step], console: Console) -> list[StepResult]:
    """Run `steps` in order, printing one line per step; skip the rest after a failure."""
    results: list[StepResult] = []
    width = max(len(step.title) for step in steps)
    failed = False
    for number, step in enumerate(steps, start=1):
        prefix = f"{number:>2}/{len(steps)}"
        if failed:
            result = StepResult(
                step.name, step.title, "skipped", 0.0, "skipped: an earlier step failed"
            )
        else:
            result = _run_one(step, console, f"{prefix} {step.title}")
            failed = result.status == "failed"
        results.append(result)
        seconds = f"{result.seconds:6.1f}s" if result.status != "skipped" else " " * 7
        console.print(
            f"{MARKS[result.status]} {prefix} {escape(step.title.ljust(width))} "
            f"{seconds}  {escape(result.detail)}",
            highlight=False,
        )
    return results


def _run_one(step: Step, console: Console, label: str) -> StepResult:
    log.info("step %s: %s", step.name, step.title)
    started = time.monotonic()
    with console.status(escape(label)) as spinner:
        progress = Progress(lambda text: spinner.update(f"{escape(label)} [dim]{escape(text)}[/]"))
        try:
            detail = step.run(progress)
            status: Status = "passed"
        except MlopsError as error:
            detail, status = _one_line(str(error)), "failed"
            log.error("step %s failed: %s", step.name, error)
        except KeyboardInterrupt:  # Ctrl-C: stop here, still write the summary
            detail, status = "interrupted (Ctrl-C)", "failed"
            log.error("step %s interrupted", step.name)
        except Exception as error:  # a bug: say so in one line, keep the traceback in the log
            detail, status = _one_line(f"unexpected {type(error).__name__}: {error}"), "failed"
            log.exception("step %s failed unexpectedly", step.name)
    seconds = time.monotonic() - started
    log.info("step %s %s in %.1fs: %s", step.name, status, seconds, detail)
    return StepResult(step.name, step.title, status, round(seconds, 2), detail)


QUIET_BELOW_WARNING = ("botocore", "boto3", "urllib3", "werkzeug")
"""Libraries whose INFO lines (one per client created, per request) would drown the log."""


def _not_chatty(record: logging.LogRecord) -> bool:
    if record.levelno >= logging.WARNING:
        return True
    return not record.name.startswith(QUIET_BELOW_WARNING)


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "(no message)"


@contextmanager
def capture_output(log_file: Path) -> Iterator[Console]:
    """Send fds 1 and 2 (prints, warnings, child processes) and `logging` to `log_file`;
    yield a console on the real stdout for the progress display. Restored on exit."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    display = os.fdopen(os.dup(saved_out), "w", encoding="utf-8", errors="replace", buffering=1)
    handler: logging.Handler | None = None
    root = logging.getLogger()
    saved_level = root.level
    with log_file.open("ab", buffering=0) as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(_not_chatty)
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield Console(file=display, highlight=False, soft_wrap=True)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            root.removeHandler(handler)
            root.setLevel(saved_level)
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            display.close()
