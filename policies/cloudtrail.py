"""CloudTrail: a multi-region, encrypted, validated trail recording model artifact access."""

from __future__ import annotations

import re

from common.iam_document import MalformedPolicy, allow_statements, parse_document
from policies.core import MANDATORY, Policy, ResourceCheck, StackCheck, Subject
from policies.s3 import prod_artifact_params

TRAIL = "aws:cloudtrail/trail:Trail"
BUCKET = "aws:s3/bucket:Bucket"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
CLOUDTRAIL_SERVICE = "cloudtrail.amazonaws.com"


def log_group_name_of(group_arn: object) -> str | None:
    """`arn:aws:logs:<region>:<account>:log-group:<name>:*` -> `<name>`; None otherwise."""
    if not isinstance(group_arn, str) or ":log-group:" not in group_arn:
        return None
    return group_arn.split(":log-group:", 1)[1].removesuffix(":*")


def trail_log_groups(stack: StackCheck, check: ResourceCheck, trail: Subject) -> list[Subject]:
    """The declared log groups a trail delivers to (`cloud_watch_logs_group_arn`)."""
    name = log_group_name_of(check.look(trail, "cloudWatchLogsGroupArn"))
    by_dependency = stack.referenced(trail, "cloudWatchLogsGroupArn", LOG_GROUP)
    return by_dependency or [g for g in stack.resources(LOG_GROUP) if name and name in g.handles]


def _check_multi_region(check: ResourceCheck) -> None:
    if check.get("isMultiRegionTrail") is not True:
        check.violation(
            "the trail must record every region",
            check.get("isMultiRegionTrail"),
            "set is_multi_region_trail=True",
        )
    if check.get("includeGlobalServiceEvents", True) is not True:
        check.violation(
            "the trail must record global service events (IAM, STS)",
            False,
            "set include_global_service_events=True",
        )
    if check.get("enableLogging", True) is not True:
        check.violation("the trail must be logging", False, "set enable_logging=True")
    selectors = check.get("eventSelectors") or []
    advanced = check.get("advancedEventSelectors") or []
    if advanced:
        management = any(
            "Management" in (f.get("equals") or [])
            for s in advanced
            for f in s.get("fieldSelectors") or []
            if f.get("field") == "eventCategory"
        )
    elif selectors:
        management = any(
            s.get("includeManagementEvents", True) is True
            and s.get("readWriteType", "All") == "All"
            for s in selectors
        )
    else:
        management = True  # no selectors: CloudTrail records all management events
    if not management:
        check.violation(
            "the trail must record read and write management events",
            "no selector with include_management_events=True and read_write_type All",
            'add an event selector with include_management_events=True, read_write_type="All"',
        )


MULTI_REGION = Policy(
    name="cloudtrail-multi-region-management-events",
    description="Checks whether a CloudTrail trail is multi-region, logging, and records "
    "read and write management events including global services.",
    enforcement=MANDATORY,
    severity="high",
    controls=("FSBP CloudTrail.1", "CIS 3.1", "NIST AU-2", "NIST AU-12"),
    validators={TRAIL: _check_multi_region},
)


def _check_kms(check: ResourceCheck) -> None:
    if not check.get("kmsKeyId"):
        check.violation(
            "log files must be encrypted with a customer managed KMS key",
            None,
            "set kms_key_id to the stack's data CMK ARN",
        )


ENCRYPTED = Policy(
    name="cloudtrail-encrypted-with-customer-kms-key",
    description="Checks whether a CloudTrail trail encrypts its log files with a customer "
    "managed KMS key.",
    enforcement=MANDATORY,
    controls=("FSBP CloudTrail.2", "CIS 3.5", "NIST AU-9", "NIST SC-28"),
    validators={TRAIL: _check_kms},
)


def _check_validation(check: ResourceCheck) -> None:
    if check.get("enableLogFileValidation") is not True:
        check.violation(
            "log file integrity validation must be enabled",
            check.get("enableLogFileValidation"),
            "set enable_log_file_validation=True",
        )


LOG_VALIDATION = Policy(
    name="cloudtrail-log-file-validation",
    description="Checks whether a CloudTrail trail writes signed digest files so tampering "
    "with log files is detectable.",
    enforcement=MANDATORY,
    controls=("FSBP CloudTrail.4", "CIS 3.2", "NIST AU-9", "NIST SI-7"),
    validators={TRAIL: _check_validation},
)


def _check_trail_bucket_logging(stack: StackCheck) -> None:
    for trail in stack.resources(TRAIL):
        check = stack.check(trail)
        name = check.get("s3BucketName")
        buckets = stack.referenced(trail, "s3BucketName", BUCKET)
        if not buckets:
            stack.skip(trail, f"the delivery bucket {name} is not declared in this stack")
            continue
        bucket = buckets[0]
        targets = [
            check.look(lg, "targetBucket") for lg in stack.referrers(bucket, LOGGING, "bucket")
        ]
        targets = [t for t in targets if t and t not in bucket.handles]
        if not targets:
            check.violation(
                f"the trail's bucket {bucket.name} must have server access logging to another "
                "bucket",
                "no BucketLogging",
                "deliver the trail to a dedicated bucket that logs to the access-log bucket",
            )


BUCKET_ACCESS_LOGGING = Policy(
    name="cloudtrail-bucket-access-logging",
    description="Checks whether the S3 bucket a CloudTrail trail delivers to has server "
    "access logging to another bucket.",
    enforcement=MANDATORY,
    controls=("CIS 3.4", "NIST AU-9", "NIST AU-12"),
    stack_validator=_check_trail_bucket_logging,
    subject_types=(TRAIL,),
)


def _covers(values: list[str], bucket_arns: set[str]) -> bool:
    for value in values:
        value = str(value)
        if value in ("arn:aws:s3", "arn:aws:s3:::"):
            return True
        if any(value.rstrip("/") == arn or value.startswith(f"{arn}/") for arn in bucket_arns):
            return True
    return False


def _records_data_events(stack: StackCheck, check: ResourceCheck, bucket_arns: set[str]) -> bool:
    for trail in stack.resources(TRAIL):
        for selector in check.look(trail, "eventSelectors") or []:
            if selector.get("readWriteType", "All") != "All":
                continue
            for data in selector.get("dataResources") or []:
                if data.get("type") == "AWS::S3::Object" and _covers(
                    list(data.get("values") or []), bucket_arns
                ):
                    return True
        for selector in check.look(trail, "advancedEventSelectors") or []:
            fields = {f.get("field"): f for f in selector.get("fieldSelectors") or []}
            if "AWS::S3::Object" not in ((fields.get("resources.type") or {}).get("equals") or []):
                continue
            if "readOnly" in fields:
                continue  # read-only or write-only: not both
            arn_field = fields.get("resources.ARN") or {}
            prefixes = list(arn_field.get("startsWith") or []) + list(arn_field.get("equals") or [])
            if not arn_field or _covers(prefixes, bucket_arns):
                return True
    return False


def _check_data_events(stack: StackCheck) -> None:
    pattern = re.compile(stack.config["artifactBucketPattern"])
    for bucket in stack.resources(BUCKET):
        check = stack.check(bucket)
        if not pattern.search(bucket.name):
            stack.skip(bucket, "not a model artifact bucket")
            continue
        if not check.in_environments():
            stack.skip(bucket, f"required only in {stack.config['environments']}")
            continue
        arns = {h for h in bucket.handles if h.startswith("arn:")}
        arns |= {f"arn:aws:s3:::{h}" for h in bucket.handles if not h.startswith("arn:")}
        if not _records_data_events(stack, check, arns):
            check.violation(
                "every read and write of a model artifact must be recorded by CloudTrail",
                "no trail with S3 data events (read and write) for this bucket",
                'add an event selector with read_write_type="All" and data_resources=[{"type": '
                '"AWS::S3::Object", "values": [f"{bucket_arn}/"]}]',
            )


ARTIFACT_DATA_EVENTS = Policy(
    name="cloudtrail-artifact-data-events-in-prod",
    description="Checks whether, in production, a CloudTrail trail records read and write "
    "data events on the model artifact bucket.",
    enforcement=MANDATORY,
    # Not CIS 3.8/3.9, which ask object-level logging on every bucket, not one bucket in prod.
    controls=("NIST AU-2", "NIST AU-12"),
    stack_validator=_check_data_events,
    subject_types=(BUCKET,),
    params=prod_artifact_params("data events"),
)


def _trusts_cloudtrail(check: ResourceCheck, role: Subject) -> bool:
    """Whether the role's trust policy lets CloudTrail (and only a service) assume it."""
    try:
        statements = parse_document(check.look(role, "assumeRolePolicy"))
    except MalformedPolicy:
        return False
    allowed = list(allow_statements(statements))
    return bool(allowed) and all(
        set(s.principals) == {"Service"} and s.principals["Service"] == (CLOUDTRAIL_SERVICE,)
        for s in allowed
    )


def _check_cloudwatch_delivery(stack: StackCheck) -> None:
    for trail in stack.resources(TRAIL):
        check = stack.check(trail)
        groups = trail_log_groups(stack, check, trail)
        if not groups:
            check.violation(
                "the trail must deliver to a CloudWatch Logs group declared in this stack, so "
                "the CIS section-4 metric filters see its events",
                check.get("cloudWatchLogsGroupArn"),
                'set cloud_watch_logs_group_arn to f"{log_group_arn}:*" of an encrypted group',
            )
            continue
        group = groups[0]
        if not check.look(group, "kmsKeyId"):
            check.violation(
                f"the trail's log group {group.name} must be encrypted with a customer managed "
                "KMS key",
                "kms_key_id not set",
                "set kms_key_id on the log group to the stack's logs CMK",
            )
        roles = stack.referenced(trail, "cloudWatchLogsRoleArn", ROLE)
        if not roles or not _trusts_cloudtrail(check, roles[0]):
            check.violation(
                "the trail must deliver with a role of this stack that only CloudTrail assumes",
                check.get("cloudWatchLogsRoleArn"),
                "set cloud_watch_logs_role_arn to the stack's CloudTrail delivery role",
            )


CLOUDWATCH_DELIVERY = Policy(
    name="cloudtrail-delivers-to-encrypted-log-group",
    description="Checks whether a CloudTrail trail delivers its events to a KMS-encrypted "
    "CloudWatch Logs group of the stack, with a role CloudTrail assumes.",
    enforcement=MANDATORY,
    severity="high",
    controls=("FSBP CloudTrail.5", "NIST AU-6", "NIST SI-4", "NIST AU-9"),
    stack_validator=_check_cloudwatch_delivery,
    subject_types=(TRAIL,),
)

POLICIES = (
    MULTI_REGION,
    ENCRYPTED,
    LOG_VALIDATION,
    BUCKET_ACCESS_LOGGING,
    ARTIFACT_DATA_EVENTS,
    CLOUDWATCH_DELIVERY,
)
