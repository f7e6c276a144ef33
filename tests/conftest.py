"""Shared fixtures: the repository root and the rendered graph of each shipped stack."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from infra.config import STACKS
from infra.graph import Graph

REPO_ROOT = Path(__file__).resolve().parent.parent
_GRAPHS: dict[str, Graph] = {}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def rendered(stack: str) -> Graph:
    """The offline graph of a shipped stack, rendered once per test session."""
    if stack not in _GRAPHS:
        from infra.offline import render_graph

        _GRAPHS[stack] = Graph.from_json(render_graph(stack, REPO_ROOT))
    return _GRAPHS[stack]


@pytest.fixture(scope="session")
def graph_of() -> Callable[[str], Graph]:
    return rendered


@pytest.fixture(params=STACKS, scope="session")
def stack_graph(request: pytest.FixtureRequest) -> Graph:
    """Parametrises a test over every shipped stack's graph."""
    return rendered(request.param)
