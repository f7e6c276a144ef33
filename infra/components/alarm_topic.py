"""The CMK-encrypted SNS topic an alarm notifies, and its policy: one builder for every
alarm topic of the stack (serving, security), so they are closed the same way."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from common.iam_document import Condition, Principal
from infra.arns import Arns
from infra.policy_document import PolicyDocument, Statement

TOPIC_ADMIN_ACTIONS = (
    "sns:GetTopicAttributes",
    "sns:ListSubscriptionsByTopic",
    "sns:SetTopicAttributes",
    "sns:Subscribe",
)


def alarm_topic(
    name: str,
    *,
    topic_name: str,
    display_name: str,
    arns: Arns,
    prefix: str,
    kms_key_arn: pulumi.Input[str],
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.sns.Topic:
    """Topic `name` (and `name`-policy): encrypted with the CMK, only the stack's alarms
    (`alarm:<prefix>-*`) publish, TLS only. The CMK's policy lets CloudWatch use it."""
    topic = aws.sns.Topic(
        name,
        name=topic_name,
        display_name=display_name,
        kms_master_key_id=kms_key_arn,
        tags=tags,
        opts=opts,
    )
    aws.sns.TopicPolicy(
        f"{name}-policy",
        arn=topic.arn,
        policy=topic_policy(arns, prefix, topic.arn).to_json(),
        opts=opts,
    )
    return topic


def topic_policy(arns: Arns, prefix: str, topic_arn: pulumi.Input[str]) -> PolicyDocument:
    """Only this stack's alarms publish; the account administers; TLS only."""
    return PolicyDocument(
        [
            Statement(
                sid="StackAlarmsPublish",
                principals=Principal("Service", ["cloudwatch.amazonaws.com"]),
                actions=["sns:Publish"],
                resources=[topic_arn],
                conditions=[
                    Condition("StringEquals", "aws:SourceAccount", [arns.account_id]),
                    Condition(
                        "ArnLike",
                        "aws:SourceArn",
                        [arns.service("cloudwatch", f"alarm:{prefix}-*")],
                    ),
                ],
            ),
            Statement(
                sid="AccountAdministersTopic",
                principals=Principal("AWS", [arns.root()]),
                actions=TOPIC_ADMIN_ACTIONS,
                resources=[topic_arn],
            ),
            Statement(
                sid="DenyInsecureTransport",
                effect="Deny",
                principals=Principal("*"),
                actions=["sns:Publish", "sns:Subscribe"],
                resources=[topic_arn],
                conditions=[Condition("Bool", "aws:SecureTransport", ["false"])],
            ),
        ]
    )
