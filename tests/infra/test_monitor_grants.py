"""The drift monitor's two writes, attacked: its marker and its metrics, nothing else.

Each attack is one call a compromised monitor (or `mlops quality`, the same role) would
make; the verdict is the project's IAM evaluator over the monitor's rendered inline policy.
"""

from __future__ import annotations

import pytest

from infra.contracts import capture_prefix, model_prefix, monitor_marker_key
from infra.graph import Graph
from policies.documents import parse_document
from policies.evaluation import Policy, Request, evaluate

PRINCIPAL = "arn:aws:sts::111111111111:assumed-role/mlops-dev-gh-monitor/drift"


def _monitor(graph: Graph) -> list:
    policy = graph.named(f"mlops-{graph.stack}-monitor", "aws:iam/rolePolicy:RolePolicy")
    return list(parse_document(policy.inputs["policy"]))


def _bucket(graph: Graph, role: str) -> str:
    return graph.named(f"mlops-{graph.stack}-{role}", "aws:s3/bucket:Bucket").id


def _may(graph: Graph, action: str, resource: str, context: dict | None = None) -> bool:
    request = Request(PRINCIPAL, action, resource, context=context or {})
    return evaluate(request, [Policy("monitor", _monitor(graph))]).allowed


def _object(graph: Graph, role: str, key: str) -> str:
    return f"arn:aws:s3:::{_bucket(graph, role)}/{key}"


ENDPOINT_CAPTURE = capture_prefix("mlops-prod-churn-classifier")


def test_the_monitor_may_advance_its_marker(stack_graph: Graph) -> None:
    marker = _object(stack_graph, "capture", monitor_marker_key(ENDPOINT_CAPTURE))
    assert _may(stack_graph, "s3:PutObject", marker)


@pytest.mark.parametrize(
    ("role", "key"),
    [
        ("capture", f"{ENDPOINT_CAPTURE}2026/01/01/00/capture.jsonl"),  # rewrite the evidence
        ("capture", "monitor-state-evil/x.json"),  # a sibling of the marker prefix
        ("artifacts", f"{model_prefix('churn-classifier', 'ab' * 32)}model.tar.gz"),
        ("data", "datasets/churn/abc/reference/reference.csv"),  # move the reference
    ],
)
def test_the_monitor_cannot_overwrite_captures_models_or_the_reference(
    stack_graph: Graph, role: str, key: str
) -> None:
    assert not _may(stack_graph, "s3:PutObject", _object(stack_graph, role, key)), key


def test_the_monitor_cannot_delete_what_it_reads(stack_graph: Graph) -> None:
    capture = _object(stack_graph, "capture", f"{ENDPOINT_CAPTURE}2026/01/01/00/c.jsonl")
    marker = _object(stack_graph, "capture", monitor_marker_key(ENDPOINT_CAPTURE))
    assert not _may(stack_graph, "s3:DeleteObject", capture)
    assert not _may(stack_graph, "s3:DeleteObject", marker)


def test_the_monitor_publishes_only_to_the_monitoring_namespace(stack_graph: Graph) -> None:
    own = {"cloudwatch:namespace": ["mlops/monitoring"]}
    assert _may(stack_graph, "cloudwatch:PutMetricData", "*", own)
    # attacks: forge the endpoints' own metrics (silence or trip serving alarms), or the
    # training jobs', or publish with no namespace condition key at all
    for forged in ("AWS/SageMaker", "/aws/sagemaker/Endpoints", "mlops"):
        context = {"cloudwatch:namespace": [forged]}
        assert not _may(stack_graph, "cloudwatch:PutMetricData", "*", context), forged
    assert not _may(stack_graph, "cloudwatch:PutMetricData", "*", {})
