"""What every benchmark module shares: its command line and where its numbers go."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MLOPS = str(Path(sys.executable).with_name("mlops"))
"""The console script a user runs, from the interpreter's own environment."""


def parser_for(name: str, description: str) -> argparse.ArgumentParser:
    """`python -m benchmarks.<name> [--json FILE] [--strict]` plus the module's own options."""
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}", description=description)
    parser.add_argument(
        "--json",
        type=Path,
        default=ROOT / "build" / "bench" / f"{name}.json",
        help="Where to write the numbers as JSON.",
    )
    parser.add_argument("--strict", action="store_true", help="Exit 1 if a bar is missed.")
    return parser


def publish(
    report: dict[str, Any], render: Callable[[dict[str, Any]], str], args: argparse.Namespace
) -> int:
    """Print the report, write its JSON (read by `python -m benchmarks`), return the exit code."""
    print(render(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 1 if args.strict and not report["bars"]["met"] else 0


_COMPILED = False


def installed_environment() -> dict[str, str]:
    """The environment of a user whose `pip install` compiled the project, for `popen`'s
    `env`: bytecode caching on, every project module compiled once beforehand (untimed).

    pip compiles each module of a package it installs; a sandbox's
    `PYTHONDONTWRITEBYTECODE=1` would instead make every start compile again every project
    module it imports (about 0.05 s of CPU for `mlops --help`, which reads every command's
    docstring), a cost no installed CLI has.
    """
    global _COMPILED
    if not _COMPILED:
        import compileall

        for package in ("common", "infra", "ml", "policies"):
            compileall.compile_dir(ROOT / package, quiet=1)
        _COMPILED = True
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str], **popen: Any) -> dict[str, Any]:
    """Wall seconds, CPU seconds (user + system), peak RSS and exit code of `command`, run
    as a fresh process from the repository root (output discarded unless `popen` says).
    The peak RSS is at least the benchmark's own at the fork: it means something only for
    commands bigger than the benchmark process."""
    popen = {"cwd": ROOT, "stdout": subprocess.DEVNULL, **popen}
    started = time.perf_counter()
    process = subprocess.Popen(command, **popen)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "seconds": round(time.perf_counter() - started, 3),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_bytes": usage.ru_maxrss * 1024,
        "exit_code": process.returncode,
    }


def repeated(command: list[str], repeats: int, **popen: Any) -> dict[str, Any]:
    """`timed` `repeats` times: every run, and the median wall and CPU seconds (the bars
    are on the median: one run delayed by another agent's burst does not decide them)."""
    runs = [timed(command, **popen) for _ in range(repeats)]
    return {
        "runs": runs,
        "seconds": round(statistics.median(r["seconds"] for r in runs), 3),
        "cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in runs), 3),
        "peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs),
        "exit_code": next((r["exit_code"] for r in runs if r["exit_code"] != 0), 0),
    }


def load_average() -> float:
    """The machine's 1-minute load average: other work slows every side of a comparison."""
    return round(os.getloadavg()[0], 2)


def line(label: str, measured: dict[str, Any], width: int = 36) -> str:
    """One measured process as a row: wall, CPU, peak RSS."""
    return (
        f"  {label + ':':<{width}}{measured['seconds']:7.2f} s wall, "
        f"{measured['cpu_seconds']:6.2f} s CPU, peak RSS {measured['peak_rss_bytes'] / 1e6:,.0f} MB"
    )
