"""Start-up: `mlops --help` and the help of every group and command, each a fresh process.

Asking for help, or mistyping an option, must be instant (issue 18: under 0.3 s each), so
each help runs as a user runs it: the console script, a new interpreter, cold imports.
There is nothing a user would run instead to get this help; beside it is the floor any
Python CLI pays, a bare interpreter (`python -c pass`, site-packages included), and the
floor of a typer CLI (`python -c "import typer"`), so the ratio says how much of the time
is the CLI's own. Which libraries `--help` may not import
is a test (tests/ml/cli/test_cli_startup.py); the time is only measured here.

Run alone: `python -m benchmarks.startup [--repeats 3] [--strict]`.
"""

from __future__ import annotations

import sys
from typing import Any

from benchmarks.common import (
    MLOPS,
    installed_environment,
    line,
    load_average,
    parser_for,
    publish,
    repeated,
)

BAR_SECONDS = 0.3


def command_paths() -> list[tuple[str, ...]]:
    """Every group and command of the CLI, the root first: () ("infra",) ("infra", "render")."""
    from typer.main import get_command

    from ml.cli import app

    def walk(command: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        subs = getattr(command, "commands", {})
        return [path, *(p for name in sorted(subs) for p in walk(subs[name], (*path, name)))]

    return walk(get_command(app), ())


def run(repeats: int) -> dict[str, Any]:
    load_before = load_average()
    env = installed_environment()
    floor = repeated([sys.executable, "-c", "pass"], repeats, env=env)
    framework = repeated([sys.executable, "-c", "import typer"], repeats, env=env)
    helps = []
    for path in command_paths():
        measured = repeated([MLOPS, *path, "--help"], repeats, env=env)
        helps.append({"command": " ".join(["mlops", *path, "--help"]), **measured})
    slowest = max(helps, key=lambda h: h["seconds"])
    report: dict[str, Any] = {
        "repeats": repeats,
        "bare_interpreter": floor,
        "import_typer": framework,
        "helps": helps,
        "slowest": slowest["command"],
        "slowest_seconds": slowest["seconds"],
        "ratio_slowest_to_bare_interpreter": round(slowest["seconds"] / floor["seconds"], 2),
        "load_average": [load_before, load_average()],
    }
    report["bars"] = {
        "every_help_under_0.3s": all(h["seconds"] < BAR_SECONDS for h in helps),
        "every_help_exits_0": all(h["exit_code"] == 0 for h in helps),
    }
    report["bars"]["met"] = all(report["bars"].values())
    return report


def render(report: dict[str, Any]) -> str:
    helps = report["helps"]
    lines = [
        f"start-up: {len(helps)} helps, fresh processes, median of {report['repeats']} "
        f"(load average {report['load_average'][0]} -> {report['load_average'][1]})",
        line("python -c pass (the floor)", report["bare_interpreter"], 44),
        line("python -c 'import typer' (the framework)", report["import_typer"], 44),
        *(line(h["command"], h, 44) for h in helps),
        f"slowest {report['slowest']}: {report['slowest_seconds']:.3f} s, "
        f"{report['ratio_slowest_to_bare_interpreter']:.1f}x a bare interpreter "
        f"(bar < {BAR_SECONDS:g} s each)",
    ]
    bars = report["bars"]
    lines.append("bars met" if bars["met"] else f"BARS NOT MET: {bars}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for("startup", __doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="Runs of each help (median).")
    args = parser.parse_args(argv)
    return publish(run(args.repeats), render, args)


if __name__ == "__main__":
    sys.exit(main())
