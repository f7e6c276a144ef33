"""SNS: alarm topics encrypted with the stack's CMK and closed to the public."""

from __future__ import annotations

from policies.core import MANDATORY, Policy, ResourceCheck
from policies.documents import MalformedPolicy, allow_statements, parse_document

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
    try:
        statements = parse_document(check.get("policy"))
    except MalformedPolicy as error:
        check.violation("the policy must be a JSON policy document", str(error), "fix it")
        return
    for statement in allow_statements(statements):
        if statement.is_public and not statement.scoped_to_account:
            check.violation(
                f"statement {statement.label} must not allow everyone (Principal '*')",
                statement.actions,
                "name the principals, or add an aws:SourceAccount / aws:SourceArn condition",
            )
        services = statement.principals.get("Service", ())
        if services and not statement.scoped_to_account:
            check.violation(
                f"statement {statement.label} must scope service principals to this account",
                f"{', '.join(services)} without aws:SourceAccount or aws:SourceArn",
                'add Condition={"StringEquals": {"aws:SourceAccount": <account id>}}',
            )


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
