"""`mlops --help` starts light: importing the CLI loads none of the libraries commands use.

Every command imports what it needs when it runs, so asking for help, or mistyping an
option, never pays for moto, pulumi or LightGBM. The time itself is measured by
`make bench` (benchmarks/startup.py), not here: on a shared CI runner a wall-clock bound
is either flaky or too loose to mean anything, while an import is there or it is not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fresh_python

# What the issue names, plus what drags them in or costs as much: pydantic (typer coerces
# values with it, which a help must not pay), rich (typer's help panels), securesystemslib.
HEAVY = (
    "moto",
    "pulumi",
    "pulumi_aws",
    "boto3",
    "botocore",
    "scipy",
    "matplotlib",
    "polars",
    "lightgbm",
    "sagemaker",
    "numpy",
    "pandas",
    "pyarrow",
    "sklearn",
    "uvicorn",
    "pydantic",
    "pydantic_core",
    "rich",
    "securesystemslib",
    "cryptography",
    "jinja2",  # the report templates: only a command that writes a report loads it
)

EVERY_HELP = """
import sys
from typer.main import get_command
from ml.cli import app

def walk(command, path=()):
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, (*path, name))

for path in walk(get_command(app)):
    try:
        app([*path, "--help"], prog_name="mlops")
    except SystemExit as done:
        assert done.code == 0, (path, done.code)
"""


def heavy_import_chains(repo_root: Path, code: str) -> list[str]:
    """Run `code` in a fresh interpreter under `-X importtime`; for each heavy library it
    loaded, the chain of imports that first reached it ("ml.cli -> ... -> moto")."""
    done = fresh_python(code, repo_root, flags=("-X", "importtime"))
    assert done.returncode == 0, f"the snippet failed:\n{done.stderr[-2000:]}"
    # Lines are "import time: self | cumulative | <2 spaces per level>name", each module
    # after the modules it imported: a module's importer is the next line one level up.
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            field = line.split("|")[2]
            name = field.strip()
            if name != "package":  # the header line
                rows.append(((len(field) - len(field.lstrip()) - 1) // 2, name))
    chains: dict[str, str] = {}
    for index, (depth, name) in enumerate(rows):
        library = name.split(".")[0]
        if library not in HEAVY or library in chains:
            continue
        chain, level = [name], depth
        for above_depth, above in rows[index + 1 :]:
            if above_depth < level:
                chain.append(above)
                level = above_depth
        if not any(m.split(".")[0] in HEAVY for m in chain[1:]):  # the first one reached
            chains[library] = " -> ".join(reversed(chain))
    return list(chains.values())


def test_importing_the_cli_loads_no_heavy_library(repo_root: Path) -> None:
    # Given a fresh interpreter, when it imports the CLI (every command module with it)
    chains = heavy_import_chains(repo_root, "import ml.cli")
    # Then no heavy library is loaded; a failure names each one and who imported it
    assert not chains, "importing ml.cli loads heavy libraries:\n" + "\n".join(chains)


def test_help_of_every_command_loads_no_heavy_library(repo_root: Path) -> None:
    # Given a fresh interpreter, when it prints the help of every group and command
    chains = heavy_import_chains(repo_root, EVERY_HELP)
    # Then nothing a command only needs when it runs was imported to describe it
    assert not chains, "`--help` loads heavy libraries:\n" + "\n".join(chains)


def test_the_chain_names_the_importer_of_a_heavy_library(repo_root: Path) -> None:
    # Given a module known to import botocore (the oracle for the parser above)
    chains = heavy_import_chains(repo_root, "import ml.aws")
    # Then the chain runs from the module the snippet imported to the heavy library
    assert any(c.startswith("ml.aws -> boto3") for c in chains), chains


def test_help_of_one_command_imports_only_its_own_command_module(repo_root: Path) -> None:
    # Given a fresh interpreter, when it prints the help of one nested command
    code = (
        "import sys\n"
        "from ml.cli import app\n"
        "try:\n"
        "    app(['infra', 'render', '--help'], prog_name='mlops')\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "print(' '.join(m for m in sys.modules if m.startswith('ml.cli.')))\n"
    )
    done = fresh_python(code, repo_root)
    # Then only that command's module was imported (with the CLI's own helpers), none of
    # the other twenty: commands are resolved by name when used (ml.cli.Root)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.splitlines()[-1].split())
    commands = loaded - {"ml.cli.usage", "ml.cli.options"}  # the shared helpers
    assert commands == {"ml.cli.infra"}, sorted(commands)


@pytest.mark.parametrize("argv", [["--help"], ["infra", "render", "--help"], []])
def test_console_script_help_exits_0_on_stdout(repo_root: Path, argv: list[str]) -> None:
    # Given the installed console script, when help is asked for (or nothing at all)
    script = Path(sys.executable).parent / "mlops"
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    done = subprocess.run(
        [str(script), *argv], cwd=repo_root, env=env, capture_output=True, text=True, timeout=120
    )
    # Then the usage is printed, with the commands or options, and no traceback
    shown = done.stdout + done.stderr
    assert "Usage: mlops" in shown and "Traceback" not in shown, shown
    assert ("render" in shown) if not argv or argv == ["--help"] else ("--stack" in shown), shown
    expected = 0 if argv else 2  # bare `mlops` shows the help as a usage error, as click does
    assert done.returncode == expected, f"exit {done.returncode}: {shown}"
