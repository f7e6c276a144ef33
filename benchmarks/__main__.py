"""`python -m benchmarks [NAME ...] [--strict]`: run the registered benchmarks in turn."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import BENCHMARKS

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help="Run only these (e.g. drift serving).")
    parser.add_argument("--strict", action="store_true", help="Exit 1 if any bar is missed.")
    args = parser.parse_args(argv)
    known = {module.rsplit(".", 1)[-1]: module for module in BENCHMARKS}
    unknown = [name for name in args.names if name not in known]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(known)}")
    chosen = [known[name] for name in args.names] if args.names else list(BENCHMARKS)
    summary = []
    for module in chosen:
        name = module.rsplit(".", 1)[-1]
        print(f"=== {name} ===", flush=True)
        started = time.monotonic()
        command = [sys.executable, "-m", module, *(["--strict"] if args.strict else [])]
        code = subprocess.call(command, cwd=ROOT)
        summary.append((name, code, time.monotonic() - started))
    print("=== summary ===")
    for name, code, seconds in summary:
        print(f"{name}: {'ok' if code == 0 else f'exit {code}'} in {seconds:.0f}s; {_bars(name)}")
    return 1 if any(code != 0 for _, code, _ in summary) else 0


def _bars(name: str) -> str:
    """The bars a benchmark recorded in build/bench/<name>.json, as one line."""
    try:
        bars = json.loads((ROOT / "build" / "bench" / f"{name}.json").read_text())["bars"]
    except (OSError, ValueError, KeyError, TypeError):
        return "no recorded bars"
    return ", ".join(f"{key}={value}" for key, value in bars.items())


if __name__ == "__main__":
    sys.exit(main())
