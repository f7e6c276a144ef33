"""Estimates of shipped stacks: render the stack file offline, price the graph."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common.errors import MlopsError
from infra.config import load_stack, stack_file
from infra.graph import Graph
from ml.cost.estimate import Estimate, PriceTable, estimate

Renderer = Callable[[str, Path], dict[str, Any]]


def _render(stack: str, root: Path) -> dict[str, Any]:
    from infra.offline import render_graph

    return render_graph(stack, root)


def estimate_stack(
    stack: str,
    root: Path,
    prices: PriceTable,
    version: Path | None = None,
    render: Renderer = _render,
) -> Estimate:
    """A month of `stack` as `Pulumi.<stack>.yaml` under `root` declares it, or as the file
    `version` declares it (e.g. the release PR's base: `git show <base>:Pulumi.prod.yaml`)."""
    if version is None:
        cfg = load_stack(stack, root)
        return estimate(Graph.from_json(render(stack, root)), cfg.region, prices)
    with tempfile.TemporaryDirectory(prefix="mlops-cost-") as tmp:
        shutil.copyfile(version, Path(tmp) / stack_file(stack, root).name)
        return estimate_stack(stack, Path(tmp), prices, None, render)


def estimate_stacks(
    stacks: Sequence[str],
    root: Path,
    prices: PriceTable,
    on_stack: Callable[[str, int, int], None] = lambda stack, done, total: None,
    render: Renderer = _render,
) -> list[Estimate]:
    """Each stack in turn (a render takes seconds): `on_stack(stack, index, total)` first."""
    estimates = []
    for index, stack in enumerate(stacks, 1):
        on_stack(stack, index, len(stacks))
        estimates.append(estimate_stack(stack, root, prices, render=render))
    return estimates


def stack_file_at(ref: str, stack: str, root: Path, out: Path) -> Path:
    """The stack file as commit `ref` had it (the release PR's base), written to `out`."""
    name = stack_file(stack, root).name
    done = subprocess.run(
        ["git", "-C", str(root), "show", f"{ref}:{name}"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["git failed"])[-1]
        raise MlopsError(f"--base-ref {ref}: cannot read {name} there ({reason})")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(done.stdout, encoding="utf-8")
    return out


def estimate_change(
    stack: str,
    root: Path,
    prices: PriceTable,
    base: Path | None = None,
    base_ref: str | None = None,
    render: Renderer = _render,
) -> tuple[Estimate | None, Estimate]:
    """(the base version's estimate or None, the stack file's under `root`)."""
    proposed = estimate_stack(stack, root, prices, render=render)
    if base_ref is not None:
        with tempfile.TemporaryDirectory(prefix="mlops-cost-") as tmp:
            base_file = stack_file_at(base_ref, stack, root, Path(tmp, "base.yaml"))
            return estimate_stack(stack, root, prices, base_file, render), proposed
    if base is not None:
        return estimate_stack(stack, root, prices, base, render), proposed
    return None, proposed
