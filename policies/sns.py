"""SNS: alarm topics encrypted with the stack's CMK, closed to the public, and read by
someone in production."""

from __future__ import annotations

from policies.core import MANDATORY, Param, Policy, ResourceCheck, StackCheck, Subject
from policies.resource_policies import (
    check_not_public,
    check_service_principals_scoped,
    parsed_policy,
)

TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
CHATBOT_SLACK = "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


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


def _plaintext(check: ResourceCheck, subscription: Subject) -> bool:
    protocol = str(check.look(subscription, "protocol") or "").lower()
    endpoint = str(check.look(subscription, "endpoint") or "").lower()
    return protocol == "http" or endpoint.startswith("http://")


def _check_subscribed(stack: StackCheck) -> None:
    for topic in stack.resources(TOPIC):
        check = stack.check(topic)
        notified_by = {a.urn for key in ALARM_ACTIONS for a in stack.referrers(topic, ALARM, key)}
        if not notified_by:
            stack.skip(topic, "no alarm notifies this topic")
            continue
        subscriptions = stack.referrers(topic, SUBSCRIPTION, "topic")
        plaintext = [s.name for s in subscriptions if _plaintext(check, s)]
        if plaintext:
            check.violation(
                "an alarm topic must not post to plain http (alarms would cross the network "
                "unencrypted)",
                plaintext,
                "subscribe an https:// endpoint instead (mlops:alerts.webhooks)",
            )
        chat = stack.referrers(topic, CHATBOT_SLACK, "snsTopicArns")
        readers = [s.name for s in subscriptions if not _plaintext(check, s)]
        readers += [c.name for c in chat]
        check.note("subscribers", readers)
        if check.in_environments() and not readers:
            check.violation(
                f"an alarm topic must reach someone in {check.environment} "
                f"({len(notified_by)} alarm(s) notify it, rollbacks included)",
                "no email, https or Chatbot subscription",
                "set mlops:alerts in the stack file (emails, https webhooks or slack)",
            )


ALARM_ACTIONS = ("alarmActions", "okActions")

ALARM_TOPIC_SUBSCRIBED = Policy(
    name="sns-alarm-topic-subscribed-in-prod",
    description="Checks whether every SNS topic an alarm notifies has, in production, at "
    "least one email, HTTPS or Chatbot subscriber, and never a plain-http one.",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST SI-4", "NIST IR-4", "NIST AU-6", "NIST SC-8"),
    stack_validator=_check_subscribed,
    subject_types=(TOPIC,),
    params=(
        Param(
            "environments",
            "array",
            ["prod"],
            "Environments (topic tag `environment`, else the stack) where an alarm topic "
            "must have a subscriber.",
            items={"type": "string"},
        ),
    ),
)

POLICIES = (ENCRYPTED_WITH_CMK, POLICY_RESTRICTED, ALARM_TOPIC_SUBSCRIBED)
