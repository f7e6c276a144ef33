"""CloudWatch Logs and alarms: encrypted, retained log groups; alarms that notify."""

from __future__ import annotations

from common import minimums
from policies.core import MANDATORY, Param, Policy, ResourceCheck, StackCheck

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"


def _check_kms(check: ResourceCheck) -> None:
    key = check.get("kmsKeyId")
    if not key:
        check.violation(
            "log events must be encrypted with a customer managed KMS key",
            key,
            "set kms_key_id to the stack's data CMK ARN",
        )


LOG_GROUP_ENCRYPTED = Policy(
    name="cloudwatch-log-group-encrypted-with-customer-kms-key",
    description="Checks whether every CloudWatch log group encrypts log events with a "
    "customer managed KMS key.",
    enforcement=MANDATORY,
    controls=("NIST SC-28", "NIST AU-9", "NIST SC-12"),
    validators={LOG_GROUP: _check_kms},
)


def _check_retention(check: ResourceCheck) -> None:
    days = check.get("retentionInDays")
    minimum = check.config["minimumDays"]
    if days is None or days == 0:
        check.violation(
            "a retention period must be set (logs never expire otherwise)",
            days,
            f"set retention_in_days={minimum} or another CloudWatch period above it",
        )
    elif days < minimum:
        check.violation(
            f"logs must be kept at least {minimum} days",
            f"{days:g} days",
            f"set retention_in_days={minimum} or more",
        )


LOG_GROUP_RETENTION = Policy(
    name="cloudwatch-log-group-retention",
    description="Checks whether every CloudWatch log group keeps logs for a set period of "
    "at least a year.",
    enforcement=MANDATORY,
    severity="low",
    controls=("NIST AU-11", "NIST SI-12"),
    validators={LOG_GROUP: _check_retention},
    params=(
        Param(
            "minimumDays",
            "integer",
            minimums.LOG_RETENTION_DAYS,
            "Shortest accepted retention_in_days.",
            minimum=1,
            maximum=3653,
        ),
    ),
)


def _check_alarm_topics(stack: StackCheck) -> None:
    topics = stack.resources(TOPIC)
    for alarm in stack.resources(ALARM):
        check = stack.check(alarm)
        actions = [a for a in check.get("alarmActions") or [] if isinstance(a, str)]
        sns = [a for a in actions if a.startswith("arn:aws") and ":sns:" in a]
        if not sns:
            check.violation(
                "the alarm must notify an SNS topic",
                actions or None,
                "set alarm_actions=[<the stack's alarm topic ARN>]",
            )
            continue
        for arn in sns:
            declared = [t for t in topics if arn in t.handles]
            if not declared:
                check.violation(
                    "the alarm must notify a topic declared (and encrypted) in this stack",
                    arn,
                    "point alarm_actions at the stack's encrypted alarm topic",
                )
            elif not check.look(declared[0], "kmsMasterKeyId"):
                check.violation(
                    f"the alarm's topic {declared[0].name} must be KMS-encrypted",
                    "kms_master_key_id not set",
                    "set kms_master_key_id on the topic to the stack's data CMK",
                )


ALARM_NOTIFIES_ENCRYPTED_TOPIC = Policy(
    name="cloudwatch-alarm-notifies-encrypted-topic",
    description="Checks whether every CloudWatch alarm notifies a KMS-encrypted SNS topic "
    "declared in the stack.",
    enforcement=MANDATORY,
    controls=("NIST SI-4", "NIST IR-4", "NIST SC-28"),
    stack_validator=_check_alarm_topics,
    subject_types=(ALARM,),
)

POLICIES = (LOG_GROUP_ENCRYPTED, LOG_GROUP_RETENTION, ALARM_NOTIFIES_ENCRYPTED_TOPIC)
