"""Plugin: the mutation suite's kill rate, printed at the end of the session.

Each mutation test records `("mutation_killed", <bool>)` as a user property; the outcome
travels on the test report, so the tally is the same whichever process ran the test. The
root conftest registers this plugin, so xdist's controller (which collects no test module
and loads no sub-directory conftest) prints it too.
"""

from __future__ import annotations

import pytest

MUTATION_PROPERTY = "mutation_killed"
_OUTCOMES: dict[str, bool] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == MUTATION_PROPERTY:
            _OUTCOMES[report.nodeid] = bool(value)


def pytest_terminal_summary(terminalreporter) -> None:
    if not _OUTCOMES:
        return
    killed = sum(_OUTCOMES.values())
    total = len(_OUTCOMES)
    survivors = sorted(
        node.rsplit("[", 1)[-1].rstrip("]") for node, k in _OUTCOMES.items() if not k
    )
    terminalreporter.section("policy pack mutation testing")
    terminalreporter.write_line(
        f"mutation kill rate: {killed}/{total} ({100 * killed / total:.1f}%)"
    )
    if survivors:
        terminalreporter.write_line(
            f"surviving mutations (each needs a waiver in policies/mutation-waivers.yaml): "
            f"{', '.join(survivors)}"
        )
