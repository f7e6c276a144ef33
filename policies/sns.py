"""SNS: alarm topics encrypted with the stack's CMK and closed to the public."""

from __future__ import annotations

from policies.core import MANDATORY, Policy, ResourceCheck
from policies.resource_policies import (
    check_not_public,
    check_service_principals_scoped,
    parsed_policy,
)

TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"


def _check_kms(check: ResourceCheck) -> None:
    key = check.get("kmsMasterKeyId")
    if not key:
        check.violation(
            "messages must be encrypted at rest with a customer managed KMS key",
            key,
            "set kms_master_key_id to the stack's data CMK ARN",
        )
    elif str(key).startswith("alias/aws/"):
        check.violation(
            "messages must be encrypted with a customer managed key, not an AWS managed one",
            key,
            "set kms_master_key_id to the stack's data CMK ARN (CloudWatch cannot use aws/sns)",
        )


ENCRYPTED_WITH_CMK = Policy(
    name="sns-topic-encrypted-with-customer-kms-key",
    description="Checks whether every SNS topic encrypts messages with a customer managed KMS key.",
    enforcement=MANDATORY,
    controls=("FSBP SNS.1", "NIST SC-28", "NIST SC-12"),
    validators={TOPIC: _check_kms},
)


def _check_topic_policy(check: ResourceCheck) -> None:
    statements = parsed_policy(check)
    if statements is None:
        return
    check_not_public(
        check,
        statements,
        "name the principals, or add an aws:SourceAccount / aws:SourceArn condition",
    )
    check_service_principals_scoped(check, statements)


POLICY_RESTRICTED = Policy(
    name="sns-topic-policy-restricted",
    description="Checks whether an SNS topic policy allows nobody publicly and scopes "
    "service principals to the account.",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST AC-3", "NIST AC-21"),
    validators={TOPIC_POLICY: _check_topic_policy},
)

POLICIES = (ENCRYPTED_WITH_CMK, POLICY_RESTRICTED)
