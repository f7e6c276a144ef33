"""`make bench` runs what is registered: every benchmark module is registered, imports,
and parses its command line (`--help`, `--json`, `--strict`) without running anything.

Nothing here is timed: the bars are measured by `make bench` on a machine that says its
load, never asserted on a shared CI runner.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from benchmarks import BENCHMARKS
from benchmarks.__main__ import main as run_benchmarks

HELPERS = {"__init__", "__main__", "common", "serving_reference"}
"""Modules under benchmarks/ that are not benchmarks: plumbing and the serving reference."""


def test_every_benchmark_module_is_registered(repo_root: Path) -> None:
    # Given the modules on disk (the oracle), when the registry is read
    on_disk = {p.stem for p in (repo_root / "benchmarks").glob("*.py")} - HELPERS
    # Then `make bench` runs each of them, and nothing that does not exist
    assert {m.removeprefix("benchmarks.") for m in BENCHMARKS} == on_disk


@pytest.mark.parametrize("module", BENCHMARKS)
def test_each_benchmark_parses_its_command_line(
    module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a registered benchmark, when asked for its help
    with pytest.raises(SystemExit) as done:
        importlib.import_module(module).main(["--help"])
    # Then it exits 0 and offers the options `python -m benchmarks` relies on
    usage = capsys.readouterr().out
    assert done.value.code == 0
    name = module.removeprefix("benchmarks.")
    assert f"python -m benchmarks.{name}" in usage
    assert "--json" in usage and "--strict" in usage


def test_an_unknown_benchmark_is_a_usage_error_naming_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a name no module has, when `python -m benchmarks` is asked to run it
    with pytest.raises(SystemExit) as done:
        run_benchmarks(["startup", "no-such-bench"])
    # Then nothing runs: exit 2, naming the unknown one and what is known
    error = capsys.readouterr().err
    assert done.value.code == 2
    assert "no-such-bench" in error and "verify" in error and "startup" in error


def test_a_bench_writes_the_json_make_bench_summarises(tmp_path: Path) -> None:
    # Given the publishing step every benchmark shares, and a report with bars
    from benchmarks.common import parser_for, publish

    args = parser_for("x", "x").parse_args(["--json", str(tmp_path / "x.json"), "--strict"])
    report = {"load_average": 1.0, "bars": {"under_0.3s": False, "met": False}}
    # When it publishes a missed bar under --strict
    code = publish(report, lambda r: "rendered", args)
    # Then the JSON holds the bars and the exit code says the bar was missed
    assert json.loads((tmp_path / "x.json").read_text())["bars"]["met"] is False
    assert code == 1
