"""Reading the shell blocks of README.md and docs/*.md, and the scratch copy of the
repository they run in (tests/docs/test_runnable_docs.py says how blocks are marked)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


def offline_env(root: Path) -> dict[str, str]:
    """The environment the blocks run in: no AWS, MLOPS or Pulumi variables, the venv's
    bin first on PATH, the scratch copy on PYTHONPATH."""
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLOPS_", "PULUMI_"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", PYTHONPATH=str(root), COLUMNS="200")
    return env


def run_block(block: Block, root: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`block` as written, with `bash -e`, in `root`."""
    return subprocess.run(
        ["bash", "-e", "-c", block.text],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def is_make_demo(block: Block) -> bool:
    return block.text.lstrip().startswith("make demo")
