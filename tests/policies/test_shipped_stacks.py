"""The shipped stacks pass every mandatory policy (with the shipped waivers), and the
synthetic fixtures use the key casing the real program produces."""

from __future__ import annotations

from datetime import date

import pytest

from ml.audit.engine import failing, run_pack
from policies.pack import BY_NAME
from policies.waivers import DEFAULT_WAIVERS, load_waivers
from tests.conftest import pack_configs
from tests.policies import fixtures


def test_shipped_stack_passes_every_mandatory_policy(stack_graph):
    # Given a shipped stack's offline graph and the shipped waivers
    waivers = load_waivers(DEFAULT_WAIVERS, BY_NAME)
    # When the whole pack runs over it
    findings = run_pack(stack_graph, waivers, configs=pack_configs(stack_graph.stack),
                        today=date.today())  # fmt: skip
    # Then no mandatory policy fails and no waiver used has expired
    failures = [m for f in failing(findings) for m in f.evaluation.violations]
    assert failures == [], f"stack {stack_graph.stack} violates mandatory policies: {failures}"


def test_shipped_stack_judges_its_resources(stack_graph):
    # Given a shipped stack
    # When the pack runs over it
    findings = run_pack(stack_graph)
    # Then policies actually judged resources (a pack matching nothing would pass vacuously)
    judged = {f.resource.type for f in findings if f.status != "not-applicable"}
    for resource_type in ("aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:iam/role:Role"):
        assert resource_type in judged, f"{resource_type} was never judged in {stack_graph.stack}"


def _fixture_resources():
    d = fixtures
    return [
        *fixtures.parts(d.secure_bucket(lock=True)),
        d.data_key(),
        d.signing_key(),
        d.github_role(),
        d.sagemaker_model(),
        d.endpoint_config(),
        d.endpoint(),
        d.alarm("a"),
        d.topic(),
        d.vpc(),
        d.flow_log(),
        d.default_sg(),
        d.security_group(),
        d.subnet(),
        d.trail(),
        d.namespace(),
        d.deployment(),
        d.network_policy(),
        d.pdb(),
        d.hpa(),
    ]


@pytest.mark.parametrize("resource", _fixture_resources(), ids=lambda r: r.type.rsplit(":", 1)[-1])
def test_fixture_keys_match_rendered_graph(resource, graph_of):
    # Given a synthetic resource the policy tests use
    seen: set[str] = set()
    for stack in ("staging", "prod"):
        for real in graph_of(stack).of_type(resource.type):
            seen |= set(real.inputs)
    if not seen:
        pytest.skip(f"no {resource.type} in the shipped stacks to compare with")
    # When its top-level input keys are compared with the real program's
    unknown = set(resource.props) - seen
    # Then every key is one the engine really sends (camelCase, not guessed)
    assert not unknown, f"{resource.type}: keys {sorted(unknown)} never appear in the graph"
