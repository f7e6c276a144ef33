"""The policy pack under attack: every mutation in `tests.policies.mutations` must make the
mandatory policy it names fail on the mutated graph (issue 15).

A mutation that survives fails its test unless `policies/mutation-waivers.yaml` waives it
with a justification; a waiver whose mutation is now killed fails too, so waivers do not
outlive the gap they describe. The session prints the kill rate (tests/policies/conftest.py).
Each stack is rendered once per session; a mutation copies only the resources it changes.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import pytest
import yaml

from ml.audit.engine import run_pack
from policies.pack import BY_NAME
from policies.waivers import DEFAULT_WAIVERS, load_waivers
from tests.conftest import REPO_ROOT, pack_configs, rendered
from tests.policies.mutation_tally import MUTATION_PROPERTY
from tests.policies.mutations import BY_ID, MUTATIONS, Mutation

MUTATION_WAIVERS = REPO_ROOT / "policies" / "mutation-waivers.yaml"


def load_mutation_waivers(path: Path = MUTATION_WAIVERS) -> dict[str, str]:
    """Mutation id -> why it may survive."""
    entries = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("waivers") or []
    return {entry["mutation"]: entry["justification"] for entry in entries}


@cache
def _shipped_waivers():
    return load_waivers(DEFAULT_WAIVERS, BY_NAME)


def _failures(graph, policy: str) -> list[str]:
    """Messages of the unwaived failures of `policy` on `graph`."""
    findings = run_pack(
        graph, _shipped_waivers(), [BY_NAME[policy]], pack_configs(graph.stack), date.today()
    )
    return [m for f in findings if f.status == "fail" for m in f.evaluation.violations]


@cache
def _passes_unmutated(stack: str, policy: str) -> bool:
    return not _failures(rendered(stack), policy)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.id)
def test_mutation_is_killed_by_its_policy(mutation: Mutation, record_property):
    # Given a shipped stack that passes the policy the mutation names
    policy = BY_NAME[mutation.kills]
    assert policy.enforcement == "mandatory", f"{mutation.id}: {policy.name} is not mandatory"
    assert _passes_unmutated(mutation.stack, policy.name), (
        f"{policy.name} already fails on the shipped {mutation.stack} stack"
    )
    # When the one change is made to a copy of its graph
    mutated = mutation.apply(rendered(mutation.stack))
    messages = _failures(mutated, policy.name)
    killed = bool(messages)
    record_property(MUTATION_PROPERTY, killed)
    # Then the policy fails, unless a justified waiver says why it may not (yet)
    waiver = load_mutation_waivers().get(mutation.id)
    if waiver is None:
        assert killed, (
            f"mutation {mutation.id} ({mutation.family}) survives: {policy.name} still passes "
            f"on stack {mutation.stack}; strengthen the policy or waive it in "
            "policies/mutation-waivers.yaml with a justification"
        )
    else:
        assert not killed, (
            f"mutation {mutation.id} is now killed by {policy.name}: remove its waiver from "
            "policies/mutation-waivers.yaml"
        )


def test_mutation_waivers_name_mutations_and_say_why():
    # Given the mutation waivers
    waivers = load_mutation_waivers()
    # Then each names a defined mutation and justifies itself in words
    unknown = sorted(set(waivers) - set(BY_ID))
    assert not unknown, f"waivers name no defined mutation: {unknown}"
    thin = sorted(m for m, why in waivers.items() if len(str(why).split()) < 8)
    assert not thin, f"waivers need a real justification: {thin}"


def test_mutation_suite_covers_every_family():
    # Given the mutation definitions
    families = {m.family for m in MUTATIONS}
    # Then the suite is large and attacks each family the red team found misses in
    expected = {"baseline", "foreign-principals", "conditions", "escalation", "wildcard-arns",
                "managed-policies", "oidc", "serving"}  # fmt: skip
    assert expected <= families, f"families without mutations: {sorted(expected - families)}"
    assert len(MUTATIONS) >= 120, f"only {len(MUTATIONS)} mutations"
