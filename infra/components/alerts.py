"""Alerts: who the stack's alarm topics reach (`mlops:alerts` in the stack file).

Every alarm topic gets the same subscriptions: each email address, each HTTPS webhook, and,
when a Slack channel is configured, one AWS Chatbot channel configuration listening to all
of them. Chatbot acts with its own role (trust: chatbot.amazonaws.com from this account), able
only to describe this stack's alarms and draw their charts; the channel's guardrail caps
what channel members may do through Chatbot to reading CloudWatch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from common.iam_document import Condition, Principal
from infra.arns import Arns
from infra.policy_document import PolicyDocument, Statement

CHATBOT_SERVICE = "chatbot.amazonaws.com"
CHATBOT_GUARDRAIL_POLICY = "CloudWatchReadOnlyAccess"
"""AWS managed policy that caps what Slack users may do through Chatbot: read CloudWatch."""
CHATBOT_ACTIONS = ("cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory")
"""Alarm details for the message, on this stack's alarms only."""
CHART_ACTIONS = ("cloudwatch:GetMetricWidgetImage",)
"""The alarm's chart in the message; IAM offers no resource for it."""


@dataclass(frozen=True)
class SlackChannel:
    workspace_id: str
    """Slack workspace (team) id, authorised once in the AWS Chatbot console."""
    channel_id: str


@dataclass(frozen=True)
class AlertsArgs:
    arns: Arns
    prefix: str
    topic_arns: Mapping[str, pulumi.Input[str]]
    """Label (`serving`, `security`) -> the ARN of an alarm topic of the stack."""
    emails: Sequence[str] = ()
    webhooks: Sequence[str] = ()
    """HTTPS URLs only (the stack config refuses http)."""
    slack: SlackChannel | None = None
    permissions_boundary_arn: pulumi.Input[str] | None = None
    tags: dict[str, str] | None = None


def _key(value: str) -> str:
    """A stable short name part for an endpoint: reordering the list replaces nothing."""
    return hashlib.sha256(value.encode()).hexdigest()[:8]


class Alerts(pulumi.ComponentResource):
    """Email and HTTPS subscriptions on every alarm topic, and a Chatbot Slack channel."""

    def __init__(self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:alerts:Alerts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        for label, topic_arn in args.topic_arns.items():
            for email in args.emails:
                aws.sns.TopicSubscription(
                    f"{name}-{label}-email-{_key(email)}",
                    topic=topic_arn,
                    protocol="email",
                    endpoint=email,
                    opts=child,
                )
            for url in args.webhooks:
                aws.sns.TopicSubscription(
                    f"{name}-{label}-webhook-{_key(url)}",
                    topic=topic_arn,
                    protocol="https",
                    endpoint=url,
                    opts=child,
                )
        if args.slack is not None:
            self._slack(name, args, args.slack, child)
        self.register_outputs({})

    def _slack(
        self, name: str, args: AlertsArgs, slack: SlackChannel, child: pulumi.ResourceOptions
    ) -> None:
        a = args.arns
        role = aws.iam.Role(
            f"{name}-chatbot",
            description="mlops: AWS Chatbot posts this stack's alarms to Slack",
            assume_role_policy=PolicyDocument(
                [
                    Statement(
                        sid="ChatbotAssume",
                        principals=Principal("Service", [CHATBOT_SERVICE]),
                        actions=["sts:AssumeRole"],
                        conditions=[Condition("StringEquals", "aws:SourceAccount", [a.account_id])],
                    )
                ]
            ).to_json(),
            max_session_duration=3600,
            permissions_boundary=args.permissions_boundary_arn,
            tags=args.tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-chatbot-policy",
            role=role.name,
            policy=PolicyDocument(
                [
                    Statement(
                        sid="DescribeStackAlarms",
                        actions=CHATBOT_ACTIONS,
                        resources=[a.service("cloudwatch", f"alarm:{args.prefix}-*")],
                    ),
                    Statement(
                        sid="DrawAlarmCharts",
                        actions=CHART_ACTIONS,
                        resources=["*"],
                        wildcard_resource_reason="GetMetricWidgetImage has no resource type",
                    ),
                ]
            ).to_json(),
            opts=child,
        )
        aws.chatbot.SlackChannelConfiguration(
            f"{name}-slack",
            configuration_name=f"{args.prefix}-alarms",
            iam_role_arn=role.arn,
            slack_team_id=slack.workspace_id,
            slack_channel_id=slack.channel_id,
            sns_topic_arns=list(args.topic_arns.values()),
            guardrail_policy_arns=[
                pulumi.Output.concat(
                    "arn:", a.partition, ":iam::aws:policy/", CHATBOT_GUARDRAIL_POLICY
                )
            ],
            user_authorization_required=True,
            logging_level="ERROR",
            tags=args.tags,
            opts=child,
        )
