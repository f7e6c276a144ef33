"""The docs are executable: every shell block in README.md and docs/*.md says whether it
runs offline, needs an AWS account, or is not a command, and the offline ones run.

A marker on the line before the fence:

- `<!-- runnable: offline -->`: runs as written with `bash -e` in a scratch copy of the
  repository, in document order (README first, so its `make demo` is the one demo run
  the later blocks use), with `.venv/bin` on PATH and the exports `mlops emulator --stack
  prod --with-demo-models` prints, so AWS calls reach the emulator. Lines starting with
  `# ` right after a command are output it must print (`...` stands for anything), as is
  a ```text block marked `<!-- output-of-previous -->` right after the block.
- `<!-- runnable: aws (why) -->`: needs a real account (Pulumi state, GitHub, the AWS CLI).
- `<!-- runnable: no (why) -->`: not a command (illustrative output), with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHELL_LANGUAGES = ("bash", "sh", "shell", "console", "")
"""Fence languages of shell blocks; a bare fence counts, so an unmarked command cannot
hide behind a missing language."""
MARKER = re.compile(r"<!-- runnable: (?P<kind>offline|aws|no)\b(?P<reason>.*?)-->")
OUTPUT_MARKER = "<!-- output-of-previous -->"
FENCE = re.compile(r"^```(?P<language>[\w-]*)\s*$")
SKIPPED = {".git", ".venv", "node_modules", "build", "__pycache__", ".pytest_cache"}
EMULATED_STACK = "prod"


@dataclass(frozen=True)
class Block:
    path: str
    line: int
    """1-based line of the opening fence."""
    language: str
    marker: str | None
    reason: str
    text: str
    output: str = ""
    """A following ```text block marked output-of-previous."""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def expected(self) -> list[str]:
        """Each run of `# ` lines right after a command, joined: output the block prints."""
        runs: list[list[str]] = []
        previous_was_command = False
        for line in self.text.splitlines():
            if line.startswith("# ") and (previous_was_command or (runs and runs[-1])):
                if previous_was_command:
                    runs.append([])
                runs[-1].append(line[2:].strip())
                previous_was_command = False
            else:
                previous_was_command = bool(line.strip()) and not line.startswith("#")
                if runs and runs[-1]:
                    runs.append([])
        patterns = [" ".join(run) for run in runs if run]
        if self.output.strip():
            patterns.append(self.output.strip())
        return patterns


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    found: list[Block] = []
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        language = fence["language"]
        before = lines[index - 1] if index else ""
        text = "\n".join(lines[index + 1 : end])
        if before.strip() == OUTPUT_MARKER and found:
            found[-1] = Block(**{**found[-1].__dict__, "output": text})
        elif language in SHELL_LANGUAGES:
            marker = MARKER.search(before)
            found.append(
                Block(
                    path=str(path.relative_to(ROOT)),
                    line=index + 1,
                    language=language,
                    marker=marker["kind"] if marker else None,
                    reason=marker["reason"].strip() if marker else "",
                    text=text,
                )
            )
        index = end + 1
    yield from found


def all_blocks() -> list[Block]:
    return [block for path in documents() for block in blocks(path)]


def pattern(expected: str) -> re.Pattern[str]:
    """`...` matches anything, a run of spaces any whitespace (output may wrap)."""
    parts = re.split(r"(\.\.\.|\s+)", expected)
    regex = "".join(
        ".*?" if part == "..." else r"\s+" if part.isspace() else re.escape(part) for part in parts
    )
    return re.compile(regex, re.DOTALL)


# --- fast: every block is marked ------------------------------------------------------


def test_every_shell_block_says_whether_it_runs() -> None:
    unmarked = [block.where for block in all_blocks() if block.marker is None]
    assert not unmarked, (
        "shell blocks without a `<!-- runnable: offline|aws|no (why) -->` line before "
        f"the fence: {unmarked}"
    )
    unexplained = [b.where for b in all_blocks() if b.marker == "no" and not b.reason]
    assert not unexplained, f"`runnable: no` needs a reason in the comment: {unexplained}"


def test_expected_output_is_read_from_the_comment_lines_after_a_command() -> None:
    block = Block("x.md", 1, "bash", "offline", "", "run a  # note\n# out one\n#  two\nrun b")
    assert block.expected() == ["out one two"]
    assert pattern("wrote ... to a.pem").search("wrote the key\n of x to a.pem")
    assert not pattern("3 file(s) match").search("4 file(s) match")


# --- slow: the offline blocks run --------------------------------------------------------


def scratch_copy(target: Path) -> Path:
    """The repository without build output or caches; .venv and node_modules linked."""
    shutil.copytree(ROOT, target, ignore=lambda _, names: [n for n in names if n in SKIPPED])
    for shared in (".venv", "node_modules"):
        if (ROOT / shared).exists():
            (target / shared).symlink_to((ROOT / shared).resolve())
    git = ["git", "-c", "user.name=docs", "-c", "user.email=docs@example.invalid", "-C"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "scratch"]):
        subprocess.run([*git, str(target), *args], check=True, capture_output=True)
    installed = ROOT / ".venv" / ".installed"  # make's stamp: keep `make` from reinstalling
    if installed.exists():
        stamp = installed.stat().st_mtime - 1
        os.utime(target / "pyproject.toml", (stamp, stamp))
    return target


Scratch = tuple[Path, dict[str, str], Callable[[], dict[str, str]]]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scratch]:
    """A scratch copy (a git checkout of one commit), the environment without AWS, and
    that environment with the emulator's exports (the emulator starts meanwhile)."""
    root = scratch_copy(tmp_path_factory.mktemp("docs") / "repo")
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLOPS_", "PULUMI_"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", PYTHONPATH=str(root), COLUMNS="200")
    process = subprocess.Popen(
        [str(bin_dir / "mlops"), "emulator", "--stack", EMULATED_STACK, "--with-demo-models"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )

    def exports() -> dict[str, str]:
        """The emulator's `export` lines, read once it has bootstrapped."""
        if not found:
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("export "):
                    name, value = line.removeprefix("export ").strip().split("=", 1)
                    found[name] = value
                if "MLOPS_SIGNING_KEY_ID" in found:
                    break
            assert found, "the emulator printed no exports"
        return {**env, **found}

    found: dict[str, str] = {}
    try:
        yield root, env, exports
    finally:
        process.terminate()
        process.communicate(timeout=30)


OFFLINE = [block for block in all_blocks() if block.marker == "offline"]


@pytest.mark.slow
def test_offline_blocks_run_as_written(scratch: Scratch) -> None:
    root, offline, with_emulator = scratch
    failures: list[str] = []
    for block in OFFLINE:  # document order: README's `make demo` first
        started = time.monotonic()
        # `make demo` needs no AWS: it runs while the emulator bootstraps
        env = offline if block.text.lstrip().startswith("make demo") else with_emulator()
        done = subprocess.run(
            ["bash", "-e", "-c", block.text],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        output = done.stdout + done.stderr
        print(f"{block.where}: exit {done.returncode} in {time.monotonic() - started:.0f}s")
        if done.returncode != 0:
            failures.append(f"{block.where}: exit {done.returncode}:\n{output[-1500:]}")
            continue
        missing = [text for text in block.expected() if not pattern(text).search(output)]
        if missing:
            failures.append(f"{block.where}: output lacks {missing}:\n{output[-1500:]}")
    assert not failures, "\n\n".join(failures)
