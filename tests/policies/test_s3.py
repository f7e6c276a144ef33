"""S3 policies: each passes a SecureBucket-shaped bucket and names what to change."""

from __future__ import annotations

import json

import pytest

from policies import s3
from tests.policies.fixtures import changed, doc, kms_denies, parts, secure_bucket, tls_deny
from tests.policies.harness import Res, only_message, run_policy, statuses_of

BUCKET = "S3 bucket `mlops-prod-data`: "


@pytest.mark.parametrize("policy", s3.POLICIES, ids=lambda p: p.name)
def test_s3_policy_compliant_bucket_passes(policy):
    # Given a bucket with every control SecureBucket applies (object lock: an artifact bucket)
    resources = parts(secure_bucket()) + parts(secure_bucket("artifacts", lock=True))
    # When the policy runs through CrossGuard and offline
    messages = run_policy(policy, *resources, environment="prod")
    # Then nothing is reported
    assert messages == [], f"{policy.name} must pass a compliant bucket, got {messages}"


def _encryption(rule: dict) -> Res:
    return changed(secure_bucket()["encryption"], rules=[rule])


@pytest.mark.parametrize(
    ("replacement", "fragments"),
    [
        (None, ["SSE-KMS", "found no BucketServerSideEncryptionConfiguration", "sse_algorithm="]),
        (
            _encryption({"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}),
            ["found sse_algorithm AES256", 'set sse_algorithm="aws:kms"'],
        ),
        (
            _encryption({"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}),
            ["customer managed KMS key", "AWS managed aws/s3 key", "set kms_master_key_id"],
        ),
        (
            _encryption(
                {
                    "applyServerSideEncryptionByDefault": {
                        "sseAlgorithm": "aws:kms",
                        "kmsMasterKeyId": "arn:aws:kms:eu-west-1:1:key/k",
                    },
                    "bucketKeyEnabled": False,
                }
            ),
            ["bucket keys must be enabled", "found false", "bucket_key_enabled=True"],
        ),
    ],
    ids=["missing", "sse-s3", "aws-managed-key", "no-bucket-key"],
)
def test_encryption_policy_weak_encryption_reports_found_value(replacement, fragments):
    # Given a bucket whose default encryption is missing or weaker than SSE-KMS with a CMK
    resources = parts(secure_bucket(), encryption=replacement)
    # When the encryption policy runs
    messages = run_policy(s3.ENCRYPTED_WITH_CMK, *resources)
    # Then one message names the bucket, the rule, the observed value and the fix
    assert only_message(messages, *fragments).startswith(BUCKET), messages


def test_encryption_policy_bucket_key_not_required_when_configured_off():
    # Given a CMK-encrypted bucket without bucket keys, and requireBucketKey turned off
    rule = {
        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "k"}
    }
    resources = parts(secure_bucket(), encryption=_encryption(rule))
    # When the policy runs with that config
    messages = run_policy(s3.ENCRYPTED_WITH_CMK, *resources, config={"requireBucketKey": False})
    # Then the tunable is honoured
    assert messages == [], f"requireBucketKey=false must accept no bucket key: {messages}"


def test_encryption_policy_links_config_by_property_dependency_when_value_unknown():
    # Given (as during `pulumi preview` of a new stack) an encryption config whose `bucket`
    # value is not known yet, but whose property dependency names the bucket
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi's unknown-string sentinel
    d = secure_bucket()
    resources = parts(d, encryption=changed(d["encryption"], bucket=unknown))
    # When the policy runs through CrossGuard (the offline graph has no unknowns)
    from tests.policies.harness import _crossguard

    messages = _crossguard(s3.ENCRYPTED_WITH_CMK, resources, None, "prod")
    # Then the bucket is still judged by its configuration, and passes
    assert messages == [], f"the dependency must link the bucket to its config: {messages}"


@pytest.mark.parametrize(
    ("replacement", "found"),
    [(None, "found no BucketVersioning"), ("Suspended", "found Suspended")],
    ids=["missing", "suspended"],
)
def test_versioning_policy_unversioned_bucket_reports_found_value(replacement, found):
    # Given a bucket without versioning, or with versioning suspended
    d = secure_bucket()
    versioning = (
        None
        if replacement is None
        else changed(d["versioning"], versioningConfiguration={"status": replacement})
    )
    # When the versioning policy runs
    messages = run_policy(s3.VERSIONING_ENABLED, *parts(d, versioning=versioning))
    # Then it says versioning must be Enabled, what it found and what to add
    only_message(messages, BUCKET, "versioning must be Enabled", found, '"status": "Enabled"')


@pytest.mark.parametrize(
    ("replacement", "fragments"),
    [
        (None, ["found no BucketPublicAccessBlock", "all four"]),
        (
            {"blockPublicPolicy": False, "restrictPublicBuckets": False},
            ["block_public_policy, restrict_public_buckets not True", "block_public_policy=True"],
        ),
    ],
    ids=["missing", "two-off"],
)
def test_public_access_policy_open_bucket_reports_flags(replacement, fragments):
    # Given a bucket whose public access block is missing or partly off
    d = secure_bucket()
    block = None if replacement is None else changed(d["public_access"], **replacement)
    # When the public access policy runs
    messages = run_policy(s3.PUBLIC_ACCESS_BLOCKED, *parts(d, public_access=block))
    # Then it names the flags to turn on
    only_message(messages, BUCKET, *fragments)


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"ownership": None}, ["BucketOwnerEnforced", "found no BucketOwnershipControls"]),
        (
            {
                "acl": Res(
                    "aws:s3/bucketAcl:BucketAcl",
                    "x-acl",
                    {"bucket": "mlops-prod-data-abc1234", "acl": "public-read"},
                )
            },
            ["must not be managed with ACLs", "BucketAcl x-acl (public-read)"],
        ),
    ],
    ids=["no-ownership-controls", "acl-resource"],
)
def test_acl_policy_acl_managed_bucket_reports_cause(changes, fragments):
    # Given a bucket whose ACLs are enabled, or that has an ACL resource
    resources = parts(secure_bucket(), **changes)
    # When the ACL policy runs
    messages = run_policy(s3.ACLS_DISABLED, *resources)
    # Then it reports what keeps ACLs in play
    only_message(messages, BUCKET, *fragments)


@pytest.mark.parametrize(
    "statements",
    [
        [],
        [
            {
                **tls_deny("mlops-prod-data-abc1234"),
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            }
        ],
        [{**tls_deny("mlops-prod-data-abc1234"), "Action": ["s3:GetObject"]}],
        [
            {
                **tls_deny("mlops-prod-data-abc1234"),
                "Resource": ["arn:aws:s3:::mlops-prod-data-abc1234"],
            }
        ],
    ],
    ids=["no-statement", "wrong-condition", "only-reads", "bucket-not-objects"],
)
def test_tls_policy_plain_http_allowed_reports_missing_deny(statements):
    # Given a bucket policy that does not deny every non-TLS request on bucket and objects
    d = secure_bucket()
    policy = changed(d["policy"], policy=doc(*statements, *kms_denies("mlops-prod-data-abc1234")))
    # When the TLS policy runs
    messages = run_policy(s3.DENIES_INSECURE_TRANSPORT, *parts(d, policy=policy))
    # Then it says plain HTTP must be denied and shows the statement to add
    only_message(messages, BUCKET, "plain HTTP must be denied", "aws:SecureTransport")


def test_tls_policy_no_bucket_policy_reports_missing_policy():
    # Given a bucket with no bucket policy at all
    resources = parts(secure_bucket(), policy=None)
    # When the TLS policy runs
    messages = run_policy(s3.DENIES_INSECURE_TRANSPORT, *resources)
    # Then the observed value is "no bucket policy"
    only_message(messages, BUCKET, "found no bucket policy")


def _bucket_policy(*statements: dict) -> Res:
    return Res("aws:s3/bucketPolicy:BucketPolicy", "p", {"bucket": "b", "policy": doc(*statements)})


@pytest.mark.parametrize(
    ("statement", "fragments"),
    [
        (
            {
                "Sid": "Open",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*",
            },
            ["statement Open must not allow everyone", "aws:SourceAccount"],
        ),
        (
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::b/*",
            },
            ["statement Logs must scope service principals", "logging.s3.amazonaws.com"],
        ),
        (
            {
                "Sid": "Admin",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::1:root"},
                "Action": "s3:PutBucketPolicy",
                "Resource": "arn:aws:s3:::b",
            },
            ["must not grant policy or ACL changes", "s3:PutBucketPolicy"],
        ),
    ],
    ids=["public", "unscoped-service", "policy-change"],
)
def test_bucket_policy_principals_policy_broad_grant_reports_statement(statement, fragments):
    # Given a bucket policy with one over-broad Allow statement
    # When the principals policy runs
    messages = run_policy(s3.POLICY_RESTRICTS_PRINCIPALS, _bucket_policy(statement))
    # Then the statement is named with what to change
    only_message(messages, "S3 bucket policy `p`: ", *fragments)


def test_bucket_policy_principals_policy_scoped_service_passes():
    # Given log delivery allowed for this account only
    statement = {
        "Sid": "Logs",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::b/*",
        "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
    }
    # When the principals policy runs
    messages = run_policy(s3.POLICY_RESTRICTS_PRINCIPALS, _bucket_policy(statement))
    # Then a scoped service principal is accepted
    assert messages == [], f"a SourceAccount-scoped service principal must pass: {messages}"


@pytest.mark.parametrize(
    ("target", "found"),
    [(None, "found no BucketLogging"), ("mlops-prod-data-abc1234", "(itself)")],
    ids=["missing", "self"],
)
def test_access_logging_policy_unlogged_bucket_reports_target(target, found):
    # Given a bucket without access logging, or logging into itself
    d = secure_bucket()
    logging = None if target is None else changed(d["logging"], targetBucket=target)
    # When the access logging policy runs
    messages = run_policy(s3.ACCESS_LOGGING_ENABLED, *parts(d, logging=logging))
    # Then it names the problem
    only_message(messages, BUCKET, found)


@pytest.mark.parametrize(
    ("rules", "fragments"),
    [
        (None, ["found no BucketLifecycleConfiguration"]),
        (
            [
                {
                    "id": "a",
                    "status": "Enabled",
                    "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7.0},
                }
            ],
            ["noncurrent object versions must expire", "noncurrent_version_expiration"],
        ),
        (
            [
                {
                    "id": "n",
                    "status": "Enabled",
                    "noncurrentVersionExpiration": {"noncurrentDays": 30.0},
                },
                {
                    "id": "a",
                    "status": "Enabled",
                    "abortIncompleteMultipartUpload": {"daysAfterInitiation": 30.0},
                },
            ],
            ["aborted within 7 days", "found days_after_initiation 30"],
        ),
        (
            [
                {
                    "id": "n",
                    "status": "Disabled",
                    "noncurrentVersionExpiration": {"noncurrentDays": 30.0},
                }
            ],
            ["found no BucketLifecycleConfiguration"],
        ),
    ],
    ids=["missing", "no-noncurrent-expiry", "slow-abort", "disabled-rules"],
)
def test_lifecycle_policy_incomplete_rules_report_missing_rule(rules, fragments):
    # Given a bucket whose lifecycle lacks a rule the policy requires
    d = secure_bucket()
    lifecycle = None if rules is None else changed(d["lifecycle"], rules=rules)
    # When the lifecycle policy runs
    messages = run_policy(s3.LIFECYCLE_CONFIGURED, *parts(d, lifecycle=lifecycle))
    # Then it names the missing rule
    only_message(messages, BUCKET, *fragments)


ARTIFACTS = "S3 bucket `mlops-prod-artifacts`: "


def test_object_lock_policy_prod_artifacts_without_lock_reports_both_parts():
    # Given the prod artifact bucket created without object lock or a retention rule
    d = secure_bucket("artifacts", lock=True)
    resources = parts(d, bucket=changed(d["bucket"], objectLockEnabled=None), object_lock=None)
    # When the object lock policy runs in prod
    messages = run_policy(s3.ARTIFACT_OBJECT_LOCK, *resources, environment="prod")
    # Then both the bucket flag and the missing default retention are reported
    assert len(messages) == 2, messages
    assert any("object_lock_enabled=True" in m for m in messages), messages
    assert any("found no BucketObjectLockConfiguration" in m for m in messages), messages


@pytest.mark.parametrize(
    ("retention", "fragments"),
    [
        (
            {"mode": "GOVERNANCE", "days": 365.0},
            ["mode must be one of ['COMPLIANCE']", "found GOVERNANCE"],
        ),
        ({"mode": "COMPLIANCE", "days": 30.0}, ["at least 365 days", "found 30 days"]),
    ],
    ids=["governance", "short"],
)
def test_object_lock_policy_weak_retention_reports_value(retention, fragments):
    # Given the prod artifact bucket locked in a bypassable mode or for too short
    d = secure_bucket("artifacts", lock=True)
    lock = changed(d["object_lock"], rule={"defaultRetention": retention})
    # When the object lock policy runs in prod
    messages = run_policy(s3.ARTIFACT_OBJECT_LOCK, *parts(d, object_lock=lock), environment="prod")
    # Then the weak setting is named
    only_message(messages, ARTIFACTS, *fragments)


def test_object_lock_policy_dev_artifacts_and_data_buckets_not_applicable():
    # Given a dev artifact bucket and a prod data bucket, neither locked
    resources = parts(secure_bucket("artifacts", env="dev")) + parts(secure_bucket("data"))
    # When the object lock policy runs
    statuses = statuses_of(s3.ARTIFACT_OBJECT_LOCK, *resources, environment="dev")
    # Then neither is judged: the rule is for production model artifacts
    assert set(statuses.values()) == {"not-applicable"}, statuses


def test_upload_policy_kms_bucket_without_denies_fails():
    # Given an SSE-KMS bucket whose policy only denies plain HTTP
    d = secure_bucket()
    policy = changed(d["policy"], policy=doc(tls_deny("mlops-prod-data-abc1234")))
    # When the upload policy runs
    messages = run_policy(s3.DENIES_UNENCRYPTED_UPLOADS, *parts(d, policy=policy))
    # Then it names every upload the policy lets through
    only_message(
        messages,
        BUCKET,
        "an upload without an encryption header",
        "an SSE-S3 (AES256) upload",
        "an SSE-KMS upload with another account's key",
    )
    assert s3.DENIES_UNENCRYPTED_UPLOADS.enforcement == "mandatory", "DESIGN: deny bypasses"


def test_upload_policy_deny_inverted_to_aes256_fails():
    # Given the deny of non-KMS uploads inverted to "deny unless AES256", and no other-key
    # deny (whose ArnNotEqualsIfExists would still refuse uploads without a key id)
    d = secure_bucket()
    statements = [
        s
        for s in json.loads(d["policy"].props["policy"])["Statement"]
        if s["Sid"] != "DenyUploadsWithOtherKmsKey"
    ]
    for statement in statements:
        condition = statement.get("Condition", {}).get("StringNotEquals", {})
        if "s3:x-amz-server-side-encryption" in condition:
            condition["s3:x-amz-server-side-encryption"] = "AES256"
    policy = changed(d["policy"], policy=json.dumps({"Statement": statements}))
    # When the upload policy evaluates it
    messages = run_policy(s3.DENIES_UNENCRYPTED_UPLOADS, *parts(d, policy=policy))
    # Then the AES256 upload it now admits is reported (the keys are still present)
    only_message(messages, BUCKET, "an SSE-S3 (AES256) upload")


def test_upload_policy_sse_s3_bucket_not_applicable():
    # Given an SSE-S3 bucket (the access-log bucket's shape)
    d = secure_bucket("logs")
    rule = {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    resources = parts(d, encryption=changed(d["encryption"], rules=[rule]))
    # When the upload policy runs
    statuses = statuses_of(s3.DENIES_UNENCRYPTED_UPLOADS, *resources)
    # Then the rule does not apply to it
    assert statuses["mlops-prod-logs"] == "not-applicable", statuses


def test_tls_policy_malformed_policy_reports_json_error():
    # Given a bucket policy that is not JSON
    d = secure_bucket()
    resources = parts(d, policy=changed(d["policy"], policy="{not json"))
    # When the TLS policy runs
    messages = run_policy(s3.DENIES_INSECURE_TRANSPORT, *resources)
    # Then the message says the policy must be JSON
    only_message(messages, BUCKET, "must be a JSON policy", "not valid JSON")


CAPTURE = "S3 bucket `mlops-prod-capture`: "


def _capture_bucket(*rules: dict, env: str = "prod"):
    """The capture bucket as SecureBucket declares it, with these lifecycle rules."""
    d = secure_bucket("capture", env=env)
    return parts(d, lifecycle=changed(d["lifecycle"], rules=list(rules)))


NONCURRENT_1 = {
    "id": "expire-noncurrent-versions",
    "status": "Enabled",
    "filter": {},
    "noncurrentVersionExpiration": {"noncurrentDays": 1.0},
}
ABORT = {
    "id": "abort-incomplete-multipart-uploads",
    "status": "Enabled",
    "filter": {},
    "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7.0},
}
EXPIRE_90 = {
    "id": "expire-current-objects",
    "status": "Enabled",
    "filter": {},
    "expiration": {"days": 90.0},
}


def test_capture_retention_policy_accepts_90_days_and_1_day_for_old_versions():
    # Given the prod capture bucket as the program declares it
    messages = run_policy(
        s3.CAPTURE_DATA_EXPIRES,
        *_capture_bucket(NONCURRENT_1, ABORT, EXPIRE_90),
        environment="prod",
    )
    # Then it passes
    assert messages == [], messages


@pytest.mark.parametrize(
    ("rules", "fragments"),
    [
        (
            (NONCURRENT_1, ABORT),
            ["must expire within 180 days", "found no whole-bucket expiration"],
        ),
        (
            (NONCURRENT_1, ABORT, {**EXPIRE_90, "expiration": {"days": 3650.0}}),
            ["must expire within 180 days", "found 3650 days"],
        ),
        (
            (NONCURRENT_1, ABORT, {**EXPIRE_90, "filter": {"prefix": "nothing-here/"}}),
            ["found no whole-bucket expiration rule"],
        ),
        (
            (NONCURRENT_1, ABORT, {**EXPIRE_90, "status": "Disabled"}),
            ["found no whole-bucket expiration rule"],
        ),
        (
            (
                {**NONCURRENT_1, "noncurrentVersionExpiration": {"noncurrentDays": 365.0}},
                ABORT,
                EXPIRE_90,
            ),
            ["expired capture versions must be deleted within 7 days", "noncurrent_days 365"],
        ),
    ],
    ids=[
        "expiry-removed",
        "ten-years",
        "expiry-scoped-to-empty-prefix",
        "expiry-disabled",
        "old-versions-kept",
    ],
)
def test_capture_retention_policy_attack_on_expiry_is_caught(rules, fragments):
    # Given an attacker (or a careless edit) keeps the captured personal data longer
    resources = _capture_bucket(*rules)
    # When the retention policy runs in prod
    messages = run_policy(s3.CAPTURE_DATA_EXPIRES, *resources, environment="prod")
    # Then it names the capture bucket, the rule and what it found
    only_message(messages, CAPTURE, *fragments)


def test_capture_retention_policy_applies_to_prod_capture_buckets_only():
    # Given a dev capture bucket and a prod data bucket, neither expiring objects
    resources = _capture_bucket(NONCURRENT_1, ABORT, env="dev") + parts(secure_bucket("data"))
    # When the policy runs
    statuses = statuses_of(s3.CAPTURE_DATA_EXPIRES, *resources, environment="dev")
    # Then neither is judged
    assert set(statuses.values()) == {"not-applicable"}, statuses
