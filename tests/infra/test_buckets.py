"""SecureBucket: encrypted, versioned, private, TLS-only, logged and expiring old versions."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from infra.config import STACKS
from infra.graph import Graph, Resource
from tests.infra.helpers import bucket_of, config_of, policy_of, secure_buckets, statements

ROLES = ("data", "artifacts", "capture", "logs")
ALIKE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
)
"""Bucket settings the shipped stack files do not vary (with access logging and the log
bucket's policy): rendered alike on every stack, as the first test below proves, so the
checks of them run once, on prod (which has every bucket: the trail's too)."""


def _component(graph: Graph, role: str) -> Resource:
    return graph.named(f"mlops-{graph.stack}-{role}", "mlops:storage:SecureBucket")


@pytest.fixture(scope="module")
def prod(graph_of: Callable[[str], Graph]) -> Graph:
    """prod's graph, where the settings in ALIKE are checked once for every stack."""
    return graph_of("prod")


def _masked(graph: Graph, resource: Resource) -> str:
    """`resource`'s inputs with the stack's name, name suffixes and key ids masked."""
    text = json.dumps(resource.inputs, sort_keys=True).replace(graph.stack, "<stack>")
    text = re.sub(r"-[0-9a-f]{7}\b", "-<suffix>", text)
    return re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "<key-id>", text)


def test_bucket_settings_render_alike_on_every_stack(graph_of: Callable[[str], Graph]) -> None:
    # given each shipped stack's rendered buckets
    def settings(stack: str) -> dict[str, str]:
        graph = graph_of(stack)
        held = {
            f"{role} {kind}": _masked(graph, config_of(graph, _component(graph, role), kind))
            for role in ROLES
            for kind in (*ALIKE, "aws:s3/bucketLogging:BucketLogging")
            if role != "logs" or kind != "aws:s3/bucketLogging:BucketLogging"
        }
        policy = config_of(graph, _component(graph, "logs"), "aws:s3/bucketPolicy:BucketPolicy")
        return {**held, "logs policy": _masked(graph, policy)}

    # then the settings the single-stack tests below check are the same on every stack
    reference = settings("prod")
    for stack in STACKS:
        differing = [k for k, v in settings(stack).items() if reference[k] != v]
        assert not differing, (
            f"{stack} renders {differing} unlike prod: check these per stack again "
            "(parametrize over stack_graph)"
        )


def test_every_stack_has_its_buckets(stack_graph: Graph) -> None:
    roles = ROLES + (("trail",) if stack_graph.stack == "prod" else ())
    names = sorted(c.name for c in secure_buckets(stack_graph))
    assert names == sorted(f"mlops-{stack_graph.stack}-{r}" for r in roles), names


@pytest.mark.parametrize("role", ["data", "artifacts", "capture"])
def test_data_buckets_use_sse_kms_with_the_cmk_and_bucket_keys(prod: Graph, role: str) -> None:
    component = _component(prod, role)
    (rule,) = config_of(
        prod,
        component,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    ).inputs["rules"]
    default = rule["applyServerSideEncryptionByDefault"]
    cmk = prod.named(f"mlops-{prod.stack}-data-key").outputs["arn"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": cmk}, default
    assert rule["bucketKeyEnabled"] is True, "bucket keys cut KMS calls and cost"


def test_log_bucket_uses_sse_s3_because_access_logging_requires_it(prod: Graph) -> None:
    component = _component(prod, "logs")
    (rule,) = config_of(
        prod,
        component,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    ).inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}, rule


def test_every_bucket_is_versioned(prod: Graph) -> None:
    for component in secure_buckets(prod):
        versioning = config_of(prod, component, "aws:s3/bucketVersioning:BucketVersioning")
        status = versioning.inputs["versioningConfiguration"]["status"]
        assert status == "Enabled", f"{component.name}: versioning {status}"


def test_every_bucket_blocks_all_public_access(prod: Graph) -> None:
    keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for component in secure_buckets(prod):
        block = config_of(prod, component, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
        assert all(block.inputs[k] is True for k in keys), f"{component.name}: {block.inputs}"


def test_every_bucket_enforces_bucket_owner(prod: Graph) -> None:
    for component in secure_buckets(prod):
        controls = config_of(
            prod, component, "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
        )
        owner = controls.inputs["rule"]["objectOwnership"]
        assert owner == "BucketOwnerEnforced", f"{component.name}: {owner}"


def test_every_bucket_policy_denies_insecure_transport(stack_graph: Graph) -> None:
    for component in secure_buckets(stack_graph):
        policy = policy_of(config_of(stack_graph, component, "aws:s3/bucketPolicy:BucketPolicy"))
        deny = statements(policy)["DenyInsecureTransport"]
        assert deny["Effect"] == "Deny" and deny["Principal"] == "*", deny
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, deny["Condition"]


@pytest.mark.parametrize("role", ["data", "artifacts", "capture"])
def test_data_bucket_policy_denies_uploads_without_the_cmk(stack_graph: Graph, role: str) -> None:
    component = _component(stack_graph, role)
    policy = statements(
        policy_of(config_of(stack_graph, component, "aws:s3/bucketPolicy:BucketPolicy"))
    )
    cmk = stack_graph.named(f"mlops-{stack_graph.stack}-data-key").outputs["arn"]
    no_kms = policy["DenyUploadsWithoutSseKms"]["Condition"]["StringNotEquals"]
    other_key = policy["DenyUploadsWithOtherKmsKey"]["Condition"]["ArnNotEqualsIfExists"]
    assert no_kms == {"s3:x-amz-server-side-encryption": "aws:kms"}, no_kms
    assert other_key == {"s3:x-amz-server-side-encryption-aws-kms-key-id": cmk}, other_key


def test_every_data_bucket_logs_access_into_the_log_bucket(prod: Graph) -> None:
    log_bucket = bucket_of(prod, _component(prod, "logs")).id
    for role in ("data", "artifacts", "capture"):
        logging = config_of(prod, _component(prod, role), "aws:s3/bucketLogging:BucketLogging")
        assert logging.inputs["targetBucket"] == log_bucket, f"{role}: {logging.inputs}"


def test_log_bucket_admits_only_log_delivery_from_this_account(prod: Graph) -> None:
    policy = statements(
        policy_of(config_of(prod, _component(prod, "logs"), "aws:s3/bucketPolicy:BucketPolicy"))
    )
    writes = policy["LogDelivery0Writes"]
    assert writes["Principal"] == {"Service": ["logging.s3.amazonaws.com"]}, writes["Principal"]
    assert writes["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"


def test_every_bucket_expires_noncurrent_versions_and_aborts_uploads(stack_graph: Graph) -> None:
    for component in secure_buckets(stack_graph):
        lifecycle = config_of(
            stack_graph,
            component,
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        )
        rules = {rule["id"]: rule for rule in lifecycle.inputs["rules"]}
        noncurrent = rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"]
        abort = rules["abort-incomplete-multipart-uploads"]["abortIncompleteMultipartUpload"]
        assert noncurrent["noncurrentDays"] > 0 and abort["daysAfterInitiation"] > 0, rules


def test_prod_artifact_bucket_has_compliance_object_lock(graph_of) -> None:
    graph = graph_of("prod")
    component = _component(graph, "artifacts")
    assert bucket_of(graph, component).inputs["objectLockEnabled"] is True, "lock at creation"
    lock = config_of(
        graph, component, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
    )
    retention = lock.inputs["rule"]["defaultRetention"]
    assert retention == {"mode": "COMPLIANCE", "days": 365}, retention


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_non_prod_buckets_have_no_object_lock(graph_of, stack: str) -> None:
    locks = graph_of(stack).of_type(
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
    )
    assert locks == [], f"{stack} should stay deletable: {[r.name for r in locks]}"


def test_prod_buckets_cannot_be_force_destroyed(graph_of) -> None:
    for component in secure_buckets(graph_of("prod")):
        bucket = bucket_of(graph_of("prod"), component)
        assert bucket.inputs.get("forceDestroy") is False, f"{bucket.name}: {bucket.inputs}"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_capture_bucket_expires_captured_data_after_90_days_and_old_versions_after_1(
    graph_of, stack: str
) -> None:
    # Given the rendered stack (no captureRetentionDays in the shipped files: the default)
    graph = graph_of(stack)
    lifecycle = config_of(
        graph,
        _component(graph, "capture"),
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    )
    rules = {rule["id"]: rule for rule in lifecycle.inputs["rules"]}
    # Then every captured object expires at 90 days, and what expiry leaves behind a day later
    assert rules["expire-current-objects"]["expiration"] == {"days": 90}, rules
    assert rules["expire-current-objects"]["filter"] == {}, "the whole bucket, labels included"
    noncurrent = rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"]
    assert noncurrent == {"noncurrentDays": 1}, rules
