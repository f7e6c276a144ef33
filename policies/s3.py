"""S3: every bucket encrypted with a customer key, versioned, private, TLS-only, logged.

In pulumi-aws 7 a bucket's settings live in their own resources (BucketVersioning,
BucketServerSideEncryptionConfiguration, ...) that name the bucket in their `bucket`
input, so these are stack policies: each judges a bucket by the resources that refer to
it. The deprecated inline inputs on `aws.s3.Bucket` are honoured too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from common import minimums
from common.iam_document import MalformedPolicy, allow_statements, parse_document
from infra.contracts import CAPTURE_RETENTION_MAX_DAYS
from policies.accounts import OUTSIDER_ACCOUNT
from policies.core import MANDATORY, Param, Policy, ResourceCheck, StackCheck, Subject, peek
from policies.evaluation import Policy as EvaluatedPolicy
from policies.evaluation import Request, evaluate
from policies.resource_policies import (
    check_not_public,
    check_service_principals_scoped,
    parsed_policy,
)

BUCKET = "aws:s3/bucket:Bucket"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
ACL = "aws:s3/bucketAcl:BucketAcl"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"

KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
PUBLIC_ACCESS_FLAGS = (
    ("blockPublicAcls", "block_public_acls"),
    ("blockPublicPolicy", "block_public_policy"),
    ("ignorePublicAcls", "ignore_public_acls"),
    ("restrictPublicBuckets", "restrict_public_buckets"),
)
# Actions Security Hub S3.6 forbids granting to other accounts; we grant them to nobody.
PRIVILEGED_BUCKET_ACTIONS = (
    "s3:DeleteBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutBucketPolicy",
    "s3:PutEncryptionConfiguration",
    "s3:PutObjectAcl",
)


def _configs(stack: StackCheck, bucket: Subject, resource_type: str) -> list[Subject]:
    return stack.referrers(bucket, resource_type, "bucket")


# -- encryption ------------------------------------------------------------------------
def _check_encryption(stack: StackCheck) -> None:
    for bucket in stack.resources(BUCKET):
        check = stack.check(bucket)
        configs = _configs(stack, bucket, ENCRYPTION)
        rules: list[tuple[str, object]] = []
        for config in configs:
            rules += [(f"{config.name}.rules", r) for r in check.look(config, "rules", [])]
        inline = check.get_if_set("serverSideEncryptionConfiguration.rule")
        if inline:
            rules.append(("serverSideEncryptionConfiguration.rule", inline))
        if not rules:
            check.violation(
                "default encryption must be SSE-KMS with a customer managed key",
                "no BucketServerSideEncryptionConfiguration",
                'add aws.s3.BucketServerSideEncryptionConfiguration with sse_algorithm="aws:kms" '
                "and kms_master_key_id=<the data CMK ARN>",
            )
            continue
        for _, rule in rules:
            default = rule.get("applyServerSideEncryptionByDefault") or {}
            algorithm = default.get("sseAlgorithm")
            key = default.get("kmsMasterKeyId")
            if algorithm not in KMS_ALGORITHMS:
                check.violation(
                    "default encryption must be SSE-KMS with a customer managed key",
                    f"sse_algorithm {algorithm}",
                    'set sse_algorithm="aws:kms" and kms_master_key_id=<the data CMK ARN>',
                )
            elif not key or str(key).startswith("alias/aws/"):
                check.violation(
                    "default encryption must use a customer managed KMS key",
                    f"kms_master_key_id {key or 'not set (the AWS managed aws/s3 key)'}",
                    "set kms_master_key_id to the ARN of the stack's data CMK",
                )
            elif stack.config["requireBucketKey"] and rule.get("bucketKeyEnabled") is not True:
                check.violation(
                    "S3 bucket keys must be enabled with SSE-KMS",
                    rule.get("bucketKeyEnabled"),
                    "set bucket_key_enabled=True (cuts KMS requests and cost by ~99%)",
                )


ENCRYPTED_WITH_CMK = Policy(
    name="s3-bucket-encrypted-with-customer-kms-key",
    description="Checks whether every S3 bucket encrypts by default with SSE-KMS and a "
    "customer managed KMS key (with S3 bucket keys).",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST SC-28", "NIST SC-12", "NIST SC-13"),
    stack_validator=_check_encryption,
    subject_types=(BUCKET,),
    params=(Param("requireBucketKey", "boolean", True, "Require bucket_key_enabled=True."),),
)


# -- versioning ------------------------------------------------------------------------
def _check_versioning(stack: StackCheck) -> None:
    for bucket in stack.resources(BUCKET):
        check = stack.check(bucket)
        statuses = [
            check.look(v, "versioningConfiguration.status")
            for v in _configs(stack, bucket, VERSIONING)
        ]
        if check.get_if_set("versioning.enabled") is True:
            statuses.append("Enabled")
        if "Enabled" not in statuses:
            check.violation(
                "versioning must be Enabled",
                statuses[0] if statuses else "no BucketVersioning",
                'add aws.s3.BucketVersioning with versioning_configuration={"status": "Enabled"}',
            )


VERSIONING_ENABLED = Policy(
    name="s3-bucket-versioning-enabled",
    description="Checks whether every S3 bucket has versioning Enabled, so an overwrite or "
    "delete can be undone.",
    enforcement=MANDATORY,
    controls=("NIST CP-9", "NIST CP-10", "NIST SI-12"),
    stack_validator=_check_versioning,
    subject_types=(BUCKET,),
)


# -- public access ---------------------------------------------------------------------
def _check_public_access(stack: StackCheck) -> None:
    for bucket in stack.resources(BUCKET):
        check = stack.check(bucket)
        blocks = _configs(stack, bucket, PUBLIC_ACCESS)
        if not blocks:
            check.violation(
                "all four public access blocks must be on",
                "no BucketPublicAccessBlock",
                "add aws.s3.BucketPublicAccessBlock with block_public_acls, block_public_policy, "
                "ignore_public_acls and restrict_public_buckets all True",
            )
            continue
        block = blocks[0]
        off = [arg for key, arg in PUBLIC_ACCESS_FLAGS if check.look(block, key) is not True]
        if off:
            check.violation(
                "all four public access blocks must be True",
                f"{', '.join(off)} not True",
                f"set {'=True, '.join(off)}=True on {block.name}",
            )


PUBLIC_ACCESS_BLOCKED = Policy(
    name="s3-bucket-public-access-blocked",
    description="Checks whether every S3 bucket has all four S3 Block Public Access "
    "settings turned on.",
    enforcement=MANDATORY,
    severity="critical",
    controls=("FSBP S3.8", "CIS 2.1.4", "NIST AC-3", "NIST AC-4", "NIST AC-21", "NIST SC-7"),
    stack_validator=_check_public_access,
    subject_types=(BUCKET,),
)


# -- ACLs ------------------------------------------------------------------------------
def _check_acls(stack: StackCheck) -> None:
    for bucket in stack.resources(BUCKET):
        check = stack.check(bucket)
        owners = [check.look(o, "rule.objectOwnership") for o in _configs(stack, bucket, OWNERSHIP)]
        if "BucketOwnerEnforced" not in owners:
            check.violation(
                "object ownership must be BucketOwnerEnforced (ACLs disabled)",
                owners[0] if owners else "no BucketOwnershipControls",
                'add aws.s3.BucketOwnershipControls with rule={"object_ownership": '
                '"BucketOwnerEnforced"}',
            )
        for acl in _configs(stack, bucket, ACL):
            check.violation(
                "bucket access must not be managed with ACLs",
                f"BucketAcl {acl.name} ({check.look(acl, 'acl')})",
                "remove the BucketAcl and grant access with IAM or the bucket policy",
            )
        inline = check.get_if_set("acl")
        if inline not in (None, "private"):
            check.violation(
                "bucket access must not be managed with ACLs",
                f"acl {inline}",
                "remove acl and grant access with IAM or the bucket policy",
            )


ACLS_DISABLED = Policy(
    name="s3-bucket-acls-disabled",
    description="Checks whether every S3 bucket enforces bucket-owner object ownership, "
    "which disables ACLs, and has no ACL resource.",
    enforcement=MANDATORY,
    controls=("FSBP S3.12", "NIST AC-3", "NIST AC-6"),
    stack_validator=_check_acls,
    subject_types=(BUCKET,),
)


# -- TLS only --------------------------------------------------------------------------
def _denies_insecure_transport(statement) -> bool:
    if statement.effect != "Deny" or not statement.is_public:
        return False
    if not (statement.grants("s3:GetObject") and statement.grants("s3:PutObject")):
        return False
    insecure = statement.condition_values("aws:SecureTransport", ("Bool", "BoolIfExists"))
    if [v.lower() for v in insecure] != ["false"]:
        return False
    covers_objects = any(r == "*" or r.endswith("/*") for r in statement.resources)
    covers_bucket = any(r == "*" or "/" not in r for r in statement.resources)
    return covers_objects and covers_bucket


def _bucket_policies(stack: StackCheck, bucket: Subject) -> list[tuple[str, object]]:
    check = stack.check(bucket)
    docs = [(p.name, check.look(p, "policy")) for p in _configs(stack, bucket, BUCKET_POLICY)]
    inline = check.get_if_set("policy")
    if inline:
        docs.append((bucket.name, inline))
    return docs


def _check_tls(stack: StackCheck) -> None:
    for bucket in stack.resources(BUCKET):
        check = stack.check(bucket)
        docs = _bucket_policies(stack, bucket)
        found = "no bucket policy"
        for name, raw in docs:
            try:
                statements = parse_document(raw)
            except MalformedPolicy as error:
                check.violation(
                    "the bucket policy must be a JSON policy", str(error), f"fix {name}"
                )
                break
            denying = [s for s in statements if _denies_insecure_transport(s)]
            if denying:
                check.note("TLS-only statement", f"{name}: {denying[0].label}")
                break
            found = "no Deny of s3:* for aws:SecureTransport=false on the bucket and its objects"
        else:
            check.violation(
                "requests over plain HTTP must be denied",
                found,
                'add a statement Effect="Deny", Principal="*", Action="s3:*", '
                "Resource=[bucket ARN, "
                'bucket ARN + "/*"], Condition={"Bool": {"aws:SecureTransport": "false"}}',
            )


DENIES_INSECURE_TRANSPORT = Policy(
    name="s3-bucket-policy-denies-insecure-transport",
    description="Checks whether every S3 bucket's policy denies all requests that do not "
    "use TLS (aws:SecureTransport=false), for the bucket and its objects.",
    enforcement=MANDATORY,
    severity="high",
    controls=("FSBP S3.5", "CIS 2.1.1", "NIST SC-8", "NIST SC-13", "NIST AC-4"),
    stack_validator=_check_tls,
    subject_types=(BUCKET,),
)


def prod_artifact_params(requirement: str) -> tuple[Param, ...]:
    """Tunables of the policies that apply to model artifact buckets in production only."""
    return (
        Param(
            "artifactBucketPattern",
            "string",
            r"-artifacts$",
            "Regex on the bucket's logical name that marks model artifact buckets.",
        ),
        Param(
            "environments",
            "array",
            ["prod"],
            f"Environments (resource tag `environment`, else the stack) requiring {requirement}.",
            items={"type": "string"},
        ),
    )


# -- who the bucket policy lets in -----------------------------------------------------
def _check_bucket_policy_principals(check) -> None:
    statements = parsed_policy(check)
    if statements is None:
        return
    check_not_public(
        check,
        statements,
        "name the principals, or add an aws:SourceAccount / aws:PrincipalOrgID condition",
    )
    check_service_principals_scoped(check, statements)
    for statement in allow_statements(statements):
        granted = [a for a in PRIVILEGED_BUCKET_ACTIONS if statement.grants(a)]
        if granted:
            check.violation(
                f"statement {statement.label} must not grant policy or ACL changes",
                granted,
                "remove these actions; manage the bucket policy and ACLs through Pulumi only",
            )


POLICY_RESTRICTS_PRINCIPALS = Policy(
    name="s3-bucket-policy-restricts-principals",
    description="Checks whether S3 bucket policies allow nobody publicly, scope service "
    "principals to the account, and grant no policy or ACL changes.",
    enforcement=MANDATORY,
    severity="high",
    controls=("FSBP S3.6", "NIST AC-3", "NIST AC-6", "NIST AC-21"),
    validators={BUCKET_POLICY: _check_bucket_policy_principals},
)


# -- access logging --------------------------------------------------------------------
def _check_logging(stack: StackCheck) -> None:
    for bucket in stack.resources(BUCKET):
        check = stack.check(bucket)
        targets = [check.look(lg, "targetBucket") for lg in _configs(stack, bucket, LOGGING)]
        targets.append(check.get_if_set("logging.targetBucket"))
        targets = [t for t in targets if t]
        if not targets:
            check.violation(
                "server access logging must be enabled",
                "no BucketLogging",
                "add aws.s3.BucketLogging with target_bucket=<the stack's log bucket> and "
                'target_prefix=f"{bucket}/"',
            )
        elif all(t in bucket.handles for t in targets):
            check.violation(
                "access logs must go to a different bucket",
                f"target_bucket {targets[0]} (itself)",
                "send the logs to a dedicated log bucket",
            )


ACCESS_LOGGING_ENABLED = Policy(
    name="s3-bucket-access-logging-enabled",
    description="Checks whether every S3 bucket sends server access logs to another bucket.",
    enforcement=MANDATORY,
    controls=("FSBP S3.9", "NIST AU-2", "NIST AU-3", "NIST AU-12", "NIST SI-4"),
    stack_validator=_check_logging,
    subject_types=(BUCKET,),
)


# -- lifecycle -------------------------------------------------------------------------
def _check_lifecycle(stack: StackCheck) -> None:
    limit = stack.config["maximumAbortDays"]
    for bucket in stack.resources(BUCKET):
        check = stack.check(bucket)
        rules = []
        for config in _configs(stack, bucket, LIFECYCLE):
            rules += [r for r in check.look(config, "rules", []) if r.get("status") == "Enabled"]
        if not rules:
            check.violation(
                "a lifecycle configuration with enabled rules is required",
                "no BucketLifecycleConfiguration",
                "add aws.s3.BucketLifecycleConfiguration expiring noncurrent versions and "
                "aborting incomplete multipart uploads",
            )
            continue
        if not any(r.get("noncurrentVersionExpiration") for r in rules):
            check.violation(
                "noncurrent object versions must expire",
                "no enabled rule with noncurrent_version_expiration",
                'add a rule with noncurrent_version_expiration={"noncurrent_days": N}',
            )
        aborts = [
            (r.get("abortIncompleteMultipartUpload") or {}).get("daysAfterInitiation")
            for r in rules
        ]
        aborts = [a for a in aborts if a is not None]
        if not aborts or min(aborts) > limit:
            check.violation(
                f"incomplete multipart uploads must be aborted within {limit:g} days",
                f"days_after_initiation {min(aborts):g}" if aborts else "no abort rule",
                "add a rule with abort_incomplete_multipart_upload="
                f'{{"days_after_initiation": {limit:g}}}',
            )


LIFECYCLE_CONFIGURED = Policy(
    name="s3-bucket-lifecycle-configured",
    description="Checks whether every S3 bucket expires noncurrent versions and aborts "
    "incomplete multipart uploads.",
    enforcement=MANDATORY,
    severity="low",
    controls=("FSBP S3.13", "NIST SI-12"),
    stack_validator=_check_lifecycle,
    subject_types=(BUCKET,),
    params=(
        Param(
            "maximumAbortDays",
            "integer",
            7,
            "Longest allowed days_after_initiation for incomplete multipart uploads.",
            minimum=1,
            maximum=30,
        ),
    ),
)


def _buckets_in_scope(
    stack: StackCheck, pattern_key: str, kind: str, requirement: str
) -> Iterator[tuple[Subject, ResourceCheck]]:
    """The buckets a per-environment bucket rule judges (name matches the config's
    `pattern_key`, stack in its environments); every other bucket is skipped, saying why."""
    pattern = re.compile(stack.config[pattern_key])
    for bucket in stack.resources(BUCKET):
        check = stack.check(bucket)
        if not pattern.search(bucket.name):
            stack.skip(bucket, f"not {kind}")
        elif not check.in_environments():
            stack.skip(bucket, f"{requirement} is required only in {stack.config['environments']}")
        else:
            yield bucket, check


# -- object lock for model artifacts in production ------------------------------------
def _check_object_lock(stack: StackCheck) -> None:
    minimum = stack.config["minimumRetentionDays"]
    modes = stack.config["modes"]
    for bucket, check in _buckets_in_scope(
        stack, "artifactBucketPattern", "a model artifact bucket", "object lock"
    ):
        if check.get("objectLockEnabled") is not True:
            check.violation(
                "model artifacts in production must be WORM-protected with object lock",
                check.get("objectLockEnabled"),
                "set object_lock_enabled=True on the bucket (only possible at creation)",
            )
        locks = _configs(stack, bucket, OBJECT_LOCK)
        if not locks:
            check.violation(
                "a default object lock retention is required",
                "no BucketObjectLockConfiguration",
                f'add aws.s3.BucketObjectLockConfiguration with mode "{modes[0]}" and '
                f"days >= {minimum}",
            )
            continue
        lock = locks[0]
        mode = check.look(lock, "rule.defaultRetention.mode")
        days = check.look(lock, "rule.defaultRetention.days")
        years = check.look(lock, "rule.defaultRetention.years")
        retention = days if days is not None else (years * 365 if years is not None else None)
        if mode not in modes:
            check.violation(
                f"object lock mode must be one of {modes}",
                mode,
                f'set rule.default_retention.mode="{modes[0]}"',
            )
        if retention is None or retention < minimum:
            check.violation(
                f"default retention must be at least {minimum} days",
                f"{retention:g} days" if retention is not None else None,
                f"set rule.default_retention.days={minimum}",
            )


ARTIFACT_OBJECT_LOCK = Policy(
    name="s3-artifact-bucket-object-lock-in-prod",
    description="Checks whether model artifact buckets in production have object lock on "
    "with a default retention in an accepted mode (WORM evidence for audits).",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST SC-28", "NIST SI-7", "NIST AU-9", "NIST CP-9"),
    stack_validator=_check_object_lock,
    subject_types=(BUCKET,),
    params=(
        *prod_artifact_params("the lock"),
        Param(
            "modes",
            "array",
            [minimums.OBJECT_LOCK_MODE],
            "Accepted retention modes (GOVERNANCE can be bypassed with a permission).",
            items={"type": "string", "enum": ["COMPLIANCE", "GOVERNANCE"]},
        ),
        Param(
            "minimumRetentionDays",
            "integer",
            minimums.OBJECT_LOCK_RETENTION_DAYS,
            "Shortest accepted default retention.",
            minimum=1,
            maximum=36500,
        ),
    ),
)


# -- captured data expires in production ---------------------------------------------
def _whole_bucket(rule: dict) -> bool:
    """A rule with no prefix, tag or size filter: it applies to every object."""
    narrowing = [v for v in (rule.get("filter") or {}).values() if v not in (None, "", {}, [])]
    return not narrowing and not rule.get("prefix")


def _shortest(rules: list[dict], path: str) -> float | None:
    found = [peek(r, path) for r in rules]
    found = [d for d in found if isinstance(d, int | float)]
    return min(found) if found else None


def _check_capture_retention(stack: StackCheck) -> None:
    limit = stack.config["maximumRetentionDays"]
    noncurrent_limit = stack.config["maximumNoncurrentDays"]
    for bucket, check in _buckets_in_scope(
        stack, "captureBucketPattern", "a data capture bucket", "retention"
    ):
        rules = [
            r
            for config in _configs(stack, bucket, LIFECYCLE)
            for r in check.look(config, "rules", [])
            if r.get("status") == "Enabled" and _whole_bucket(r)
        ]
        days = _shortest(rules, "expiration.days")
        if days is None or days > limit:
            check.violation(
                f"captured requests and responses (personal data) must expire within "
                f"{limit:g} days",
                f"{days:g} days" if days is not None else "no whole-bucket expiration rule",
                f'add a lifecycle rule with filter={{}} and expiration={{"days": {limit:g}}} '
                "(buckets.captureRetentionDays)",
            )
        noncurrent = _shortest(rules, "noncurrentVersionExpiration.noncurrentDays")
        if noncurrent is None or noncurrent > noncurrent_limit:
            check.violation(
                f"expired capture versions must be deleted within {noncurrent_limit:g} days",
                f"noncurrent_days {noncurrent:g}" if noncurrent is not None else "never",
                "add a lifecycle rule with filter={} and noncurrent_version_expiration="
                f'{{"noncurrent_days": {noncurrent_limit:g}}}',
            )


CAPTURE_DATA_EXPIRES = Policy(
    name="s3-capture-bucket-data-expires-in-prod",
    description="Checks whether the bucket of captured inference requests and responses "
    "(personal data) expires every object, and its old versions, within a bounded period "
    "in production (GDPR storage limitation, CCPA retention disclosure).",
    enforcement=MANDATORY,
    severity="medium",
    controls=("FSBP S3.13", "NIST SI-12", "NIST SI-12(3)"),
    stack_validator=_check_capture_retention,
    subject_types=(BUCKET,),
    params=(
        Param(
            "captureBucketPattern",
            "string",
            r"-capture$",
            "Regex on the bucket's logical name that marks data capture buckets.",
        ),
        Param(
            "environments",
            "array",
            ["prod"],
            "Environments (resource tag `environment`, else the stack) requiring retention.",
            items={"type": "string"},
        ),
        Param(
            "maximumRetentionDays",
            "integer",
            CAPTURE_RETENTION_MAX_DAYS,
            "Longest accepted expiration of captured objects.",
            minimum=1,
            maximum=3650,
        ),
        Param(
            "maximumNoncurrentDays",
            "integer",
            7,
            "Longest accepted life of a capture object's old (noncurrent) version.",
            minimum=1,
            maximum=365,
        ),
    ),
)


# -- uploads must use the bucket's KMS key ---------------------------------------------
SSE_HEADER = "s3:x-amz-server-side-encryption"
SSE_KEY_HEADER = "s3:x-amz-server-side-encryption-aws-kms-key-id"
OTHER_KEY = f"arn:aws:kms:us-east-1:{OUTSIDER_ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
# Uploads that bypass the bucket's CMK, as the request's condition values.
BYPASSING_UPLOADS: dict[str, dict[str, list[str]]] = {
    "an upload without an encryption header": {},
    "an SSE-S3 (AES256) upload": {SSE_HEADER: ["AES256"]},
    "an SSE-KMS upload with another account's key": {
        SSE_HEADER: ["aws:kms"],
        SSE_KEY_HEADER: [OTHER_KEY],
    },
}


def _bucket_key(check, stack: StackCheck, bucket: Subject) -> str | None:
    """The KMS key the bucket encrypts with by default; None when it is not SSE-KMS."""
    for config in _configs(stack, bucket, ENCRYPTION):
        for rule in check.look(config, "rules", []):
            default = rule.get("applyServerSideEncryptionByDefault") or {}
            if default.get("sseAlgorithm") in KMS_ALGORITHMS:
                return str(default.get("kmsMasterKeyId") or "")
    return None


def _bucket_name(stack: StackCheck, bucket: Subject) -> str:
    """The name the bucket's ARNs use: as its policy names it, else from its ARN or id."""
    for policy in _configs(stack, bucket, BUCKET_POLICY):
        if isinstance(name := peek(policy.props, "bucket"), str):
            return name
    arns = sorted(h for h in bucket.handles if h.startswith("arn:aws:s3:::"))
    if arns:
        return arns[0].removeprefix("arn:aws:s3:::")
    return next(iter(sorted(bucket.handles)), bucket.name)


def _check_upload_encryption(stack: StackCheck) -> None:
    for bucket in stack.resources(BUCKET):
        check = stack.check(bucket)
        if _bucket_key(check, stack, bucket) is None:
            stack.skip(bucket, "the bucket does not default to SSE-KMS")
            continue
        statements = []
        for _, raw in _bucket_policies(stack, bucket):
            try:
                statements += parse_document(raw)
            except MalformedPolicy:
                continue
        name = _bucket_name(stack, bucket)
        policy = [EvaluatedPolicy("bucket policy", statements)]
        uploads = dict(BYPASSING_UPLOADS)
        own_key = _bucket_key(check, stack, bucket)
        named_keys = {
            k for st in statements for k in st.condition_values(SSE_KEY_HEADER) if k != own_key
        }
        for other in sorted(named_keys):
            uploads[f"an SSE-KMS upload with key {other}"] = {
                SSE_HEADER: ["aws:kms"],
                SSE_KEY_HEADER: [other],
            }
        admitted = [
            upload
            for upload, context in uploads.items()
            if evaluate(
                Request(
                    principal=f"arn:aws:iam::{OUTSIDER_ACCOUNT}:role/uploader",
                    action="s3:PutObject",
                    resource=f"arn:aws:s3:::{name}/probe",
                    context={k.lower(): v for k, v in context.items()},
                ),
                [],
                policy,
            ).decision
            != "explicit-deny"
        ]
        check.note("uploads not denied", admitted)
        if admitted:
            check.violation(
                "the bucket policy must deny uploads that bypass the bucket's CMK",
                admitted,
                f"deny s3:PutObject when {SSE_HEADER} is not aws:kms, and when {SSE_KEY_HEADER} "
                "is not the bucket's key (ArnNotEqualsIfExists)",
            )


DENIES_UNENCRYPTED_UPLOADS = Policy(
    name="s3-bucket-policy-denies-unencrypted-uploads",
    description="Checks whether the policy of an SSE-KMS bucket denies every upload that "
    "bypasses its key: no encryption header, SSE-S3, or another KMS key (judged by "
    "evaluating the policy for each such request).",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST SC-28", "NIST SC-13"),
    stack_validator=_check_upload_encryption,
    subject_types=(BUCKET,),
)

POLICIES = (
    ENCRYPTED_WITH_CMK,
    VERSIONING_ENABLED,
    PUBLIC_ACCESS_BLOCKED,
    ACLS_DISABLED,
    DENIES_INSECURE_TRANSPORT,
    POLICY_RESTRICTS_PRINCIPALS,
    ACCESS_LOGGING_ENABLED,
    LIFECYCLE_CONFIGURED,
    ARTIFACT_OBJECT_LOCK,
    CAPTURE_DATA_EXPIRES,
    DENIES_UNENCRYPTED_UPLOADS,
)
