"""Security alarms: the CIS AWS Foundations v3.0.0 section-4 metric filters on the trail's
log group, one alarm each, notifying the stack's CMK-encrypted security topic.

The filters and their patterns are data (`infra.cis.CIS_METRIC_FILTERS`); the policy pack
checks the same list. An alarm fires on the first matching event in five minutes, as the
benchmark asks; a quiet period is not a failure (`notBreaching`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.arns import Arns
from infra.cis import CIS_METRIC_FILTERS, CIS_METRIC_NAMESPACE, cis_alarm_name
from infra.components.alarm_topic import alarm_topic

PERIOD_SECONDS = 300


@dataclass(frozen=True)
class SecurityAlarmsArgs:
    arns: Arns
    prefix: str
    """Name prefix, `mlops-<env>`: the topic and every alarm start with it."""
    log_group_name: pulumi.Input[str]
    """The trail's CloudWatch Logs group the filters read."""
    kms_key_arn: pulumi.Input[str]
    """The data CMK: encrypts the topic (its policy lets CloudWatch alarms use it)."""
    tags: dict[str, str] | None = None


class SecurityAlarms(pulumi.ComponentResource):
    """One metric filter and one alarm per CIS 4.x recommendation, to one security topic."""

    topic_arn: pulumi.Output[str]
    alarm_names: dict[str, pulumi.Output[str]]
    """CIS recommendation (`4.1`) -> alarm name."""

    def __init__(
        self, name: str, args: SecurityAlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("mlops:security:SecurityAlarms", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags or {}
        topic = alarm_topic(
            f"{name}-security-alarms",
            topic_name=f"{args.prefix}-security-alarms",
            display_name=f"{args.prefix} security alarms",
            arns=args.arns,
            prefix=args.prefix,
            kms_key_arn=args.kms_key_arn,
            tags=tags,
            opts=child,
        )
        self.topic_arn = topic.arn
        self.alarm_names = {}
        for item in CIS_METRIC_FILTERS:
            metric_filter = aws.cloudwatch.LogMetricFilter(
                f"{name}-cis-{item.slug}",
                name=f"{args.prefix}-cis-{item.slug}",
                log_group_name=args.log_group_name,
                pattern=item.pattern,
                metric_transformation={
                    "name": item.metric_name,
                    "namespace": CIS_METRIC_NAMESPACE,
                    "value": "1",
                },
                opts=child,
            )
            alarm = aws.cloudwatch.MetricAlarm(
                f"{name}-cis-{item.slug}-alarm",
                name=cis_alarm_name(args.prefix, item),
                alarm_description=f"CIS {item.control}: {item.title} (CloudTrail, {args.prefix})",
                namespace=CIS_METRIC_NAMESPACE,
                metric_name=item.metric_name,
                statistic="Sum",
                period=PERIOD_SECONDS,
                evaluation_periods=1,
                threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=[topic.arn],
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[metric_filter]),
            )
            self.alarm_names[item.control] = alarm.name
        self.register_outputs({"topic_arn": self.topic_arn})
