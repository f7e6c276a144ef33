"""Audit trail (prod) and the registry: CloudTrail data events, immutable scanned images."""

from __future__ import annotations

import json

import pytest

from infra.graph import Graph


def test_prod_trail_is_multi_region_validated_and_encrypted(graph_of) -> None:
    graph: Graph = graph_of("prod")
    (trail,) = graph.of_type("aws:cloudtrail/trail:Trail")
    inputs = trail.inputs
    assert inputs["isMultiRegionTrail"] is True and inputs["enableLogFileValidation"] is True
    logs_key = graph.named("mlops-prod-logs-key").outputs["arn"]
    assert inputs["kmsKeyId"] == logs_key, (
        "the trail is encrypted with the logs CMK, not the data key"
    )
    assert inputs["name"] == "mlops-prod-trail", "a fixed name the logs key policy names"
    bucket = graph.named("mlops-prod-trail", "aws:s3/bucket:Bucket").id
    assert inputs["s3BucketName"] == bucket, "trail delivers into its own bucket"


def test_prod_trail_bucket_is_kms_encrypted_and_access_logged(graph_of) -> None:
    graph: Graph = graph_of("prod")
    component = graph.named("mlops-prod-trail", "mlops:storage:SecureBucket")
    (logging,) = graph.children(component, "aws:s3/bucketLogging:BucketLogging")
    logs = graph.named("mlops-prod-logs", "aws:s3/bucket:Bucket").id
    assert logging.inputs["targetBucket"] == logs, "the trail bucket's access is logged (CIS 3.4)"
    (sse,) = graph.children(
        component,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )
    default = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "aws:kms", default


def test_prod_trail_records_every_read_and_write_of_a_model(graph_of) -> None:
    graph: Graph = graph_of("prod")
    (trail,) = graph.of_type("aws:cloudtrail/trail:Trail")
    (selector,) = trail.inputs["eventSelectors"]
    artifacts = graph.named("mlops-prod-artifacts", "aws:s3/bucket:Bucket").outputs["arn"]
    assert selector["readWriteType"] == "All", selector
    assert selector["dataResources"] == [{"type": "AWS::S3::Object", "values": [f"{artifacts}/"]}]


def test_prod_trail_bucket_lets_cloudtrail_deliver(graph_of) -> None:
    policy = json.loads(graph_of("prod").named("mlops-prod-trail-policy").inputs["policy"])
    sids = {s["Sid"] for s in policy["Statement"]}
    assert {"LogDelivery0Writes", "LogDelivery0ChecksAcl"} <= sids, sids


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_non_prod_stacks_have_no_trail(graph_of, stack: str) -> None:
    assert graph_of(stack).of_type("aws:cloudtrail/trail:Trail") == []


def test_image_repository_is_immutable_scanned_and_kms_encrypted(stack_graph: Graph) -> None:
    (repo,) = stack_graph.of_type("aws:ecr/repository:Repository")
    cmk = stack_graph.named(f"mlops-{stack_graph.stack}-data-key").outputs["arn"]
    assert repo.inputs["imageTagMutability"] == "IMMUTABLE", repo.inputs
    assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}, repo.inputs
    assert repo.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": cmk}]


def test_image_repository_expires_untagged_images(stack_graph: Graph) -> None:
    (lifecycle,) = stack_graph.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")
    rules = json.loads(lifecycle.inputs["policy"])["rules"]
    assert any(r["selection"]["tagStatus"] == "untagged" for r in rules), rules


def test_a_model_package_group_exists_for_every_served_model(stack_graph: Graph) -> None:
    groups = {
        g.inputs["modelPackageGroupName"]
        for g in stack_graph.of_type("aws:sagemaker/modelPackageGroup:ModelPackageGroup")
    }
    assert groups == {f"mlops-{stack_graph.stack}-churn-classifier"}, groups
