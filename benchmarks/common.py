"""What every benchmark module shares: its command line and where its numbers go."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


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
