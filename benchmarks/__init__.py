"""Benchmarks against reference implementations, run by `make bench` (`python -m benchmarks`).

Each registered module runs as `python -m <module> [--strict]` in a process of its own
(so memory high-water marks and warm caches do not leak from one to the next), prints
its own measurements and ratios, writes its numbers to `build/bench/<name>.json`, and
exits nonzero under `--strict` when it misses a bar. Register a benchmark by adding one
line below.
"""

BENCHMARKS: tuple[str, ...] = (
    "benchmarks.drift",
    "benchmarks.drift_cli",
    "benchmarks.serving",
    "benchmarks.render",
    "benchmarks.startup",
    "benchmarks.validate",
    "benchmarks.verify",
    "benchmarks.audit",
    "benchmarks.reports",
)
