"""Shared fixtures: the repository root, the rendered graph of each shipped stack, `cli`
(every in-process `mlops` run), and the session's one run of README's `make demo`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import pytest

from infra.config import STACKS
from infra.graph import Graph
from tests.docs.runnable import Block

pytest_plugins = ["tests.policies.mutation_tally"]
"""Hooks every process must load, xdist's controller included (it loads only this conftest)."""

REPO_ROOT = Path(__file__).resolve().parent.parent
_GRAPHS: dict[str, Graph] = {}
T = TypeVar("T")


def fresh_python(
    code: str,
    repo_root: Path,
    timeout: float = 120,
    *,
    flags: tuple[str, ...] = (),
    importable: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a new interpreter (with interpreter `flags` such as `-X importtime`),
    from `repo_root`, with `importable` (default: the repository) on the path: what a user's
    process would load, not what this test process already imported."""
    return subprocess.run(
        [sys.executable, *flags, "-c", code],
        cwd=repo_root,
        env={**os.environ, "PYTHONPATH": str(importable or repo_root)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_until(
    condition: Callable[[], T], timeout: float, what: str | Callable[[], str], poll: float = 0.01
) -> T:
    """Polls `condition` until it returns something truthy and returns that; at the deadline
    the test fails saying `what` never happened. Tests wait for an event this way, never for
    a fixed time: a sleep is too long on a quiet machine and too short on a busy one."""
    deadline = time.monotonic() + timeout
    while True:
        if result := condition():
            return result
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"waited {timeout:g} s: {said}")
        time.sleep(poll)


_SHELL_ENV = dict(os.environ)
"""The environment pytest started in (a CI job's GH_REPO, a developer's MLOPS_* ...)."""


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session", autouse=True)
def tracking_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Every training run logs to MLflow (ml/tracking): in tests, to one SQLite store per
    worker (a new store's schema migrations take seconds), never to the repository's build/."""
    from infra.contracts import Env

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlruns') / 'mlflow.db'}"
    previous = os.environ.get(Env.MLFLOW_TRACKING_URI)
    os.environ[Env.MLFLOW_TRACKING_URI] = uri
    yield uri
    if previous is None:
        os.environ.pop(Env.MLFLOW_TRACKING_URI, None)
    else:
        os.environ[Env.MLFLOW_TRACKING_URI] = previous


def rendered(stack: str) -> Graph:
    """The offline graph of a shipped stack, rendered once per test session."""
    if stack not in _GRAPHS:
        from infra.offline import render_graph

        _GRAPHS[stack] = Graph.from_json(render_graph(stack, REPO_ROOT))
    return _GRAPHS[stack]


def pack_configs(stack: str) -> dict[str, Any]:
    """The policy config a shipped stack file implies (as `mlops audit --stack` derives it)."""
    from infra.config import load_stack
    from ml.audit.engine import stack_configs

    return stack_configs(load_stack(stack, REPO_ROOT).promoter_role_arns())


@pytest.fixture(scope="session")
def graph_of() -> Callable[[str], Graph]:
    return rendered


@pytest.fixture(params=STACKS, scope="session")
def stack_graph(request: pytest.FixtureRequest) -> Graph:
    """Parametrises a test over every shipped stack's graph."""
    return rendered(request.param)


@dataclass(frozen=True)
class CliResult:
    """One `mlops` run: its exit code, and stdout and stderr kept apart (so a test can
    check an error is one line on stderr). Unpacks as `code, out, err = cli(...)`."""

    exit_code: int
    stdout: str
    stderr: str

    def __iter__(self) -> Iterator[Any]:
        return iter((self.exit_code, self.stdout, self.stderr))


Cli = Callable[..., CliResult]
"""`cli("release", "verify", "--stack", "dev")`: run `mlops` with those arguments."""


@dataclass(frozen=True)
class ReportRun:
    """One run of an `mlops` command that writes its reports to `--out`: exit code, stderr,
    the report folder, and the name of its JSON report there."""

    code: int
    err: str
    out: Path
    report: str

    def json(self) -> dict:
        return json.loads((self.out / self.report).read_text())


def run_reporting(cli: Cli, command: str, argv: list[str], out: Path, report: str) -> ReportRun:
    """`mlops <command> <argv> --out <out>`, whose JSON report is `out / report`."""
    code, _, err = cli(command, *argv, "--out", out)
    return ReportRun(code, err, out, report)


@cache
def option_envvars() -> frozenset[str]:
    """Every environment variable an `mlops` option reads, from the tree typer builds."""
    from typer.main import get_command

    from ml.cli import app

    def walk(command: Any) -> Iterator[Any]:
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    return frozenset(
        var
        for command in walk(get_command(app))
        for param in command.params
        for var in ([param.envvar] if isinstance(param.envvar, str) else param.envvar or ())
    )


@pytest.fixture(scope="session")
def cli() -> Cli:
    """Run `mlops` in this process with Typer's `CliRunner`, as the console script runs it
    (`ml.cli.app`, its one-line errors and exit codes); any fixture scope may use it. No
    option comes from the shell pytest started in: a variable an option reads is unset
    for the run while it still holds the shell's value (a fixture or the test may set its
    own). Unexpected exceptions propagate, so a traceback fails the test rather than
    hiding behind exit code 1."""
    from typer.testing import CliRunner

    from ml.cli import app

    runner = CliRunner()

    def invoke(*argv: str | Path, input: str | None = None) -> CliResult:
        inherited = {
            var: None
            for var in option_envvars()
            if var in _SHELL_ENV and os.environ.get(var) == _SHELL_ENV[var]
        }
        args = [str(arg) for arg in argv]
        result = runner.invoke(app, args, input=input, env=inherited, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return invoke


@dataclass(frozen=True)
class ReadmeDemo:
    block: Block
    """README's `make demo` block, as written."""
    root: Path
    """The scratch copy of the repository it ran in (its working directory)."""
    env: dict[str, str]
    """The environment it ran with: no AWS, MLOPS or Pulumi variables."""
    done: subprocess.CompletedProcess
    seconds: float


@pytest.fixture(scope="session")
def readme_demo(tmp_path_factory: pytest.TempPathFactory) -> ReadmeDemo:
    """README's `make demo`, run once per session as written in a scratch copy of the
    repository: the docs' later blocks read its report (tests/docs), and it is the second
    demo run, in another directory with the default report folder (tests/e2e)."""
    from tests.docs.runnable import all_blocks, is_make_demo, offline_env, run_block, scratch_copy

    block = next(b for b in all_blocks() if b.marker == "offline" and is_make_demo(b))
    root = scratch_copy(tmp_path_factory.mktemp("scratch") / "repo")
    env = offline_env(root)
    started = time.monotonic()
    done = run_block(block, root, env)
    return ReadmeDemo(block, root, env, done, time.monotonic() - started)


SHARE_THE_DEMO = ("tests/docs/test_runnable_docs.py", "tests/e2e/test_demo.py")
"""The modules that use `readme_demo`: under `make test` they run on one worker, so the
session's demo runs once."""


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test`'s `--dist loadscope` sends a module's tests to one worker (its module
    fixtures, an emulator or training jobs, are built once), and `SHARE_THE_DEMO`'s
    modules to the same one. (`--dist loadgroup` would do it by marker, but pytest-xdist
    3.8 cannot regroup pytest 9's node ids: it behaves as `load`.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "demo" if path in SHARE_THE_DEMO else super()._split_scope(nodeid)

    return ByModule(config, log)
