"""Every usage error of `mlops`, at every level of its command tree, is one line and exit 2.

The cases come from the command tree as typer builds it, so a new command or option is
covered without editing this file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.main import get_command

from ml.cli import app
from tests.conftest import Cli

ROOT = get_command(app)


def _walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, (*path, name))


TREE = list(_walk(ROOT))
GROUPS = [path for path, command in TREE if hasattr(command, "commands")]
COMMANDS = [(path, command) for path, command in TREE if not hasattr(command, "commands")]


def _options(command: Any) -> list[Any]:
    return [p for p in command.params if p.param_type_name == "option"]


def _long(option: Any) -> str:
    return max(option.opts, key=len)


def _is_numeric(path: tuple[str, ...], command: Any, option: Any) -> bool:
    """Whether `--help` shows the option takes a number (INTEGER/FLOAT, `<int range>`, ...)."""
    record = option.get_help_record(typer.Context(command, info_name=" ".join(path)))
    return bool(record) and re.search(r"\b(int|integer|float)\b", record[0], re.I) is not None


def _placeholder(path: tuple[str, ...], command: Any, option: Any) -> str:
    """A value each type accepts at parse time: a number, or an existing path ('.')."""
    return "1" if _is_numeric(path, command, option) else "."


def _arguments(command: Any) -> list[str]:
    """A placeholder for each required positional argument (an existing path, '.')."""
    return ["." for p in command.params if p.param_type_name == "argument" and p.required]


MISSING = [
    (
        path,
        _long(option),
        [
            *_arguments(command),
            *(
                a
                for o in _options(command)
                if o.required and o is not option
                for a in (_long(o), _placeholder(path, command, o))
            ),
        ],
    )
    for path, command in COMMANDS
    for option in _options(command)
    if option.required
]
NUMERIC = [
    (path, _long(option))
    for path, command in COMMANDS
    for option in _options(command)
    if _is_numeric(path, command, option)
]


def _name(path: tuple[str, ...]) -> str:
    return " ".join(("mlops", *path))


def assert_one_line_usage_error(code: int, output: str, path: tuple[str, ...], *parts: str) -> None:
    lines = output.splitlines()
    assert code == 2, f"usage errors exit 2, got {code}: {output}"
    assert "Traceback" not in output, output
    assert len(lines) == 1, f"expected exactly one line, got {len(lines)}:\n{output}"
    assert lines[0].startswith(f"{_name(path)}: "), f"the line names the command: {lines[0]}"
    for part in parts:
        assert part in lines[0], f"{part!r} missing from: {lines[0]}"


def test_the_walk_finds_the_whole_tree() -> None:
    # Given the tree as typer builds it, then it holds groups, nested commands and options
    paths = {path for path, _ in TREE}
    assert {(), ("infra",), ("infra", "render"), ("release", "verify"), ("train",)} <= paths
    assert MISSING and NUMERIC, "the tree has required and numeric options to mistype"


@pytest.mark.parametrize("path", [path for path, _ in TREE], ids=_name)
def test_unknown_option_at_any_level_is_one_line_exit_2(cli: Cli, path: tuple[str, ...]) -> None:
    # Given any command or group, when an option it does not have is typed
    code, out, err = cli(*path, "--no-such-option")
    output = out + err
    # Then one line names the command and the option
    assert_one_line_usage_error(code, output, path, "No such option", "--no-such-option")


@pytest.mark.parametrize("path", GROUPS, ids=_name)
def test_unknown_subcommand_of_any_group_is_one_line_exit_2(
    cli: Cli, path: tuple[str, ...]
) -> None:
    # Given any group, when a subcommand it does not have is typed
    code, out, err = cli(*path, "no-such-command")
    output = out + err
    # Then one line names the group and the command
    assert_one_line_usage_error(code, output, path, "No such command", "no-such-command")


@pytest.mark.parametrize(
    ("path", "option", "others"), MISSING, ids=[f"{_name(p)} {o}" for p, o, _ in MISSING]
)
def test_each_missing_required_option_is_one_line_exit_2(
    cli: Cli, path: tuple[str, ...], option: str, others: list[str]
) -> None:
    # Given every other required option of the command, when this one is left out
    code, out, err = cli(*path, *others)
    output = out + err
    # Then one line says which option is missing (and the command never ran)
    assert_one_line_usage_error(code, output, path, "Missing option", f"'{option}'")


@pytest.mark.parametrize(("path", "option"), NUMERIC, ids=[f"{_name(p)} {o}" for p, o in NUMERIC])
def test_non_number_for_numeric_option_is_one_line_exit_2(
    cli: Cli, path: tuple[str, ...], option: str
) -> None:
    # Given an option that takes a number, when it is given 'abc'
    code, out, err = cli(*path, option, "abc")
    output = out + err
    # Then one line says the value is invalid for that option
    assert_one_line_usage_error(code, output, path, "Invalid value for", f"'{option}'")


def test_command_typo_suggests_the_close_match_on_the_same_line(cli: Cli) -> None:
    # Given a misspelt command, when it is typed
    code, out, err = cli("infra", "rendr", "--stack", "prod")
    output = out + err
    # Then the one line says what was meant
    assert_one_line_usage_error(code, output, ("infra",), "'rendr'", "Did you mean 'render'?")


@pytest.mark.parametrize("path", [path for path, _ in TREE], ids=_name)
def test_help_at_any_level_exits_0(cli: Cli, path: tuple[str, ...]) -> None:
    # Given any command or group, when --help is asked for, then it is shown with exit 0
    code, out, err = cli(*path, "--help")
    output = out + err
    assert code == 0, f"--help exits 0, got {code}: {output}"
    assert "Usage" in output and "Traceback" not in output, output


def test_ctrl_c_exits_130_without_traceback(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a command interrupted while it starts
    def interrupted(**_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("ml.emulator.server.Emulator", interrupted)
    # When the user presses Ctrl-C
    code, out, err = cli("emulator", "--port", "0")
    output = out + err
    # Then it exits 130 (128 + SIGINT), at most one line, no traceback
    assert code == 130, f"Ctrl-C exits 130, got {code}: {output}"
    assert "Traceback" not in output and len(output.splitlines()) <= 1, output


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["infra", "render", "--stack", "prod"], "mlops infra render: Missing option '--out'"),
        (["train", "--bogus"], "mlops train: No such option: --bogus"),
        (["nosuchcommand"], "mlops: No such command 'nosuchcommand'."),
    ],
    ids=["missing-option", "unknown-option", "unknown-command"],
)
def test_console_script_usage_error_is_one_line_exit_2(
    repo_root: Path, tmp_path: Path, argv: list[str], expected: str
) -> None:
    # Given the installed console script, as a user runs it
    script = Path(sys.executable).parent / "mlops"
    assert script.is_file(), f"console script not installed beside {sys.executable}"
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    # When a usage error is typed
    done = subprocess.run(
        [str(script), *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    # Then one line on stderr, nothing on stdout, exit 2
    assert done.returncode == 2, f"exit {done.returncode}: {done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(expected), done.stderr
