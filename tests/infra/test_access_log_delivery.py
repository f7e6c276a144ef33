"""Seam: where each bucket sends its server access logs is where the log bucket lets S3 write.

The logging configuration (every SecureBucket) and the log bucket's policy (its deliveries)
are built in two places; S3 refuses a delivery the target bucket's policy does not allow,
silently (the source bucket just has no logs). The rendered graph is read as it is and the
log bucket's policy evaluated, for S3's log delivery service, on the key S3 would write.
"""

from __future__ import annotations

import json

from common.iam_document import parse_document
from infra.graph import Graph
from policies.evaluation import Policy, Request, evaluate

LOGGING = "aws:s3/bucketLogging:BucketLogging"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ACCOUNT = "123456789012"  # the offline mocks' account


def _policy_of(graph: Graph, bucket: str) -> Policy:
    [policy] = [r for r in graph.of_type(BUCKET_POLICY) if r.inputs["bucket"] == bucket]
    document = policy.inputs["policy"]
    statements = parse_document(json.loads(document) if isinstance(document, str) else document)
    return Policy(f"bucket policy of {bucket}", statements)


def test_every_bucket_logs_where_the_log_bucket_admits_s3_log_delivery(stack_graph: Graph) -> None:
    loggings = stack_graph.of_type(LOGGING)
    assert loggings, "every stack logs its buckets' access"
    for logging in loggings:
        source, target = logging.inputs["bucket"], logging.inputs["targetBucket"]
        key = f"{logging.inputs['targetPrefix']}2026-11-30-12-00-00-0123456789ABCDEF"
        request = Request(
            principal="logging.s3.amazonaws.com",
            action="s3:PutObject",
            resource=f"arn:aws:s3:::{target}/{key}",
            context={
                "aws:sourceaccount": [ACCOUNT],
                "aws:sourcearn": [f"arn:aws:s3:::{source}"],
                "aws:securetransport": ["true"],
            },
        )
        outcome = evaluate(request, (), (_policy_of(stack_graph, target),), resource_required=True)
        assert outcome.allowed, f"{source} logs to s3://{target}/{key}: {outcome.reason}"
        assert key.startswith("s3-access/"), key


def test_attack_log_delivery_for_another_account_is_refused(stack_graph: Graph) -> None:
    # a bucket of another account pointing its logs at ours must not be able to write
    [logging, *_] = stack_graph.of_type(LOGGING)
    target = logging.inputs["targetBucket"]
    request = Request(
        principal="logging.s3.amazonaws.com",
        action="s3:PutObject",
        resource=f"arn:aws:s3:::{target}/s3-access/foreign/2026-11-30-12-00-00-0",
        context={"aws:sourceaccount": ["999988887777"], "aws:securetransport": ["true"]},
    )
    outcome = evaluate(request, (), (_policy_of(stack_graph, target),), resource_required=True)
    assert not outcome.allowed, outcome
