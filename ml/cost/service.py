"""Estimates of shipped stacks: render the stack file offline, price the graph."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

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
