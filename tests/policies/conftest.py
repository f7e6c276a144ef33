"""Policy-test hooks: the mutation suite's kill rate, printed at the end of the session."""

from __future__ import annotations

MUTATION_OUTCOMES: dict[str, bool] = {}
"""Mutation id -> killed, filled by tests/policies/test_mutations.py."""


def pytest_terminal_summary(terminalreporter) -> None:
    if not MUTATION_OUTCOMES:
        return
    killed = sum(MUTATION_OUTCOMES.values())
    total = len(MUTATION_OUTCOMES)
    survivors = sorted(m for m, k in MUTATION_OUTCOMES.items() if not k)
    terminalreporter.section("policy pack mutation testing")
    terminalreporter.write_line(
        f"mutation kill rate: {killed}/{total} ({100 * killed / total:.1f}%)"
    )
    if survivors:
        terminalreporter.write_line(f"surviving mutations: {', '.join(survivors)}")
