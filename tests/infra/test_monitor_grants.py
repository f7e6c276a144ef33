"""The drift monitor's two writes, attacked: its marker and its metrics, nothing else.

Each attack is one call a compromised monitor (or `mlops quality`, the same role) would
make; the verdict is the project's IAM evaluator over the monitor's rendered inline policy.
"""

from __future__ import annotations

import pytest

from common.iam_document import parse_document
from infra.contracts import capture_prefix, model_prefix, monitor_marker_key
from infra.graph import Graph
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


READ_PREFIXES = ("Get", "List", "Describe", "BatchGet", "BatchCheck")
MONITOR_WRITES = {
    "ReadAndAdvanceMonitorState": {"s3:PutObject"},
    "PublishMonitoringMetrics": {"cloudwatch:PutMetricData"},
    "UseDataKey": {"kms:GenerateDataKey"},
    "CreateIsolatedEncryptedProcessingJobs": {"sagemaker:CreateProcessingJob"},
    "FollowProcessingJobs": {"sagemaker:StopProcessingJob"},
    "PassItselfToProcessingJobs": {"iam:PassRole"},
    "WriteProcessingLogs": {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
    "AttachToPrivateSubnets": {
        "ec2:CreateNetworkInterface",
        "ec2:CreateNetworkInterfacePermission",
        "ec2:DeleteNetworkInterface",
        "ec2:DeleteNetworkInterfacePermission",
    },
}


def test_every_write_of_the_monitor_is_one_of_its_known_statements(stack_graph: Graph) -> None:
    # an attacker widening the monitor (a new statement, or a write action slipped into a
    # read statement) shows up here; each of these writes is attacked in this file
    for statement in _monitor(stack_graph):
        writes = {
            a
            for a in statement.actions
            if not a.split(":")[1].startswith(READ_PREFIXES) and a != "kms:Decrypt"
        }
        assert writes <= MONITOR_WRITES.get(statement.sid or "", set()), (statement.sid, writes)


def _create(graph: Graph, **settings: list[str]) -> bool:
    """CreateProcessingJob by the monitor with the stack's settings, `settings` changed."""
    key = graph.named(f"mlops-{graph.stack}-data-key", "aws:kms/key:Key").outputs["arn"]
    context = {
        "sagemaker:networkisolation": ["true"],
        "sagemaker:intercontainertrafficencryption": ["true"],
        "sagemaker:volumekmskey": [key],
        "sagemaker:outputkmskey": [key],
    }
    subnets = [r.id for r in graph.of_type("aws:ec2/subnet:Subnet") if "-private-" in r.name]
    groups = [r.id for r in graph.of_type("aws:ec2/securityGroup:SecurityGroup")
              if r.name.endswith("-training-sg")]  # fmt: skip
    if subnets:
        context["sagemaker:vpcsubnets"] = subnets
        context["sagemaker:vpcsecuritygroupids"] = groups
    context.update(settings)
    account = graph.named(f"mlops-{graph.stack}-gh-monitor", "aws:iam/role:Role").outputs["arn"]
    account = account.split(":")[4]
    job = f"arn:aws:sagemaker:eu-west-1:{account}:processing-job/mlops-{graph.stack}-drift-1"
    return _may(graph, "sagemaker:CreateProcessingJob", job, context)


def test_the_monitor_creates_only_isolated_encrypted_placed_processing_jobs(
    stack_graph: Graph,
) -> None:
    assert _create(stack_graph), "the launcher's own request"
    # attacks: a job that can reach the network, or whose volume or output is readable
    # without the stack's key
    assert not _create(stack_graph, **{"sagemaker:networkisolation": ["false"]})
    other = "arn:aws:kms:eu-west-1:111111111111:key/attacker"
    assert not _create(stack_graph, **{"sagemaker:outputkmskey": [other]})
    assert not _create(stack_graph, **{"sagemaker:volumekmskey": [other]})


def test_the_monitor_passes_only_itself_to_its_jobs(stack_graph: Graph) -> None:
    roles = {r.name: r.outputs["arn"] for r in stack_graph.of_type("aws:iam/role:Role")}
    passed = {"iam:passedtoservice": ["sagemaker.amazonaws.com"]}
    own = roles[f"mlops-{stack_graph.stack}-gh-monitor"]
    assert _may(stack_graph, "iam:PassRole", own, passed)
    # attack: run the job as the release role (sign, register) or the training role
    for other in ("gh-release", "training"):
        assert not _may(
            stack_graph, "iam:PassRole", roles[f"mlops-{stack_graph.stack}-{other}"], passed
        )
