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

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ReadmeDemo
from tests.docs.runnable import (
    EMULATED_STACK,
    Block,
    all_blocks,
    is_make_demo,
    pattern,
    run_block,
)

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


Scratch = tuple[Path, dict[str, str], Callable[[], dict[str, str]]]


@pytest.fixture(scope="module")
def scratch(readme_demo: ReadmeDemo) -> Iterator[Scratch]:
    """The scratch copy README's `make demo` ran in (a git checkout of one commit), the
    environment without AWS, and that environment with the emulator's exports (the
    emulator starts meanwhile)."""
    root, env = readme_demo.root, readme_demo.env
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlops"), "emulator", "--stack", EMULATED_STACK,
         "--with-demo-models"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip

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
def test_offline_blocks_run_as_written(scratch: Scratch, readme_demo: ReadmeDemo) -> None:
    root, offline, with_emulator = scratch
    failures: list[str] = []
    for block in OFFLINE:  # document order: README's `make demo` first
        started = time.monotonic()
        if block == readme_demo.block:  # ran once for the session, in this scratch copy
            done, seconds = readme_demo.done, readme_demo.seconds
        else:
            # `make demo` needs no AWS; every other block runs against the emulator
            done = run_block(block, root, offline if is_make_demo(block) else with_emulator())
            seconds = time.monotonic() - started
        output = done.stdout + done.stderr
        print(f"{block.where}: exit {done.returncode} in {seconds:.0f}s")
        if done.returncode != 0:
            failures.append(f"{block.where}: exit {done.returncode}:\n{output[-1500:]}")
            continue
        missing = [text for text in block.expected() if not pattern(text).search(output)]
        if missing:
            failures.append(f"{block.where}: output lacks {missing}:\n{output[-1500:]}")
    assert not failures, "\n\n".join(failures)
