"""Alarms that reach people, attacked: the trail's delivery to an encrypted log group, the
CIS v3.0.0 section-4 filters with their alarms, and alarm topics that someone reads."""

from __future__ import annotations

import pytest

from infra.cis import CIS_METRIC_FILTERS
from policies import cloudtrail, logs, sns
from tests.policies.fixtures import (
    ACCOUNT,
    KEY_ARN,
    TOPIC_ARN,
    TRAIL_LOG_GROUP,
    alarm,
    doc,
    role_arn,
    topic,
    trail,
    trail_delivery,
)
from tests.policies.harness import Res, only_message, run_policy, statuses_of

TRAIL = "CloudTrail trail `mlops-prod-trail`: "
TOPIC = "SNS topic `mlops-prod-alarms`: "
ROOT_PATTERN = (
    '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && '
    '$.eventType != "AwsServiceEvent" }'
)


def cis_monitoring(**alarm_props) -> list[Res]:
    """Every CIS 4.x filter on the trail's group and an alarm on each metric."""
    resources: list[Res] = []
    for item in CIS_METRIC_FILTERS:
        resources.append(
            Res(
                "aws:cloudwatch/logMetricFilter:LogMetricFilter",
                f"mlops-prod-cis-{item.slug}",
                {
                    "logGroupName": TRAIL_LOG_GROUP,
                    "pattern": item.pattern,
                    "metricTransformation": {
                        "name": item.metric_name,
                        "namespace": "CISBenchmark",
                        "value": "1",
                    },
                },
            )
        )
        resources.append(
            alarm(
                f"mlops-prod-cis-{item.slug}-alarm",
                namespace="CISBenchmark",
                metricName=item.metric_name,
                **alarm_props,
            )
        )
    return resources


def _without(resources: list[Res], name: str) -> list[Res]:
    kept = [r for r in resources if r.name != name]
    assert len(kept) == len(resources) - 1, f"{name} is not among the resources"
    return kept


def _replaced(resources: list[Res], name: str, **props) -> list[Res]:
    return [r.with_props(**props) if r.name == name else r for r in resources]


def _monitored_trail() -> list[Res]:
    return [trail(), *trail_delivery(), *cis_monitoring(), topic()]


def subscription(protocol: str = "email", endpoint: str = "ml-oncall@example.com") -> Res:
    return Res(
        "aws:sns/topicSubscription:TopicSubscription",
        f"mlops-prod-serving-{protocol}",
        {"topic": TOPIC_ARN, "protocol": protocol, "endpoint": endpoint},
    )


def slack() -> Res:
    return Res(
        "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration",
        "mlops-prod-slack",
        {
            "configurationName": "mlops-prod-alarms",
            "slackTeamId": "T00000000",
            "slackChannelId": "C00000000",
            "snsTopicArns": [TOPIC_ARN],
        },
    )


NEW = (cloudtrail.CLOUDWATCH_DELIVERY, logs.CIS_FILTERS_ALARMED, sns.ALARM_TOPIC_SUBSCRIBED)


@pytest.mark.parametrize("policy", NEW, ids=lambda p: p.name)
def test_alerting_policy_monitored_prod_stack_passes(policy):
    # Given a trail delivering to an encrypted group, every CIS filter alarmed to an
    # encrypted topic, and an email subscription on that topic
    resources = [*_monitored_trail(), subscription()]
    # When the policy runs in prod
    messages = run_policy(policy, *resources, environment="prod")
    # Then nothing is reported
    assert messages == [], f"{policy.name} must pass a monitored stack: {messages}"


# -- the trail delivers to an encrypted log group ------------------------------------------
def test_trail_delivery_dropped_is_reported():
    # Given an attacker who stops the trail's delivery to CloudWatch Logs (alarms go blind)
    resources = [trail(cloudWatchLogsGroupArn=None), *trail_delivery()]
    # When the delivery policy runs
    messages = run_policy(cloudtrail.CLOUDWATCH_DELIVERY, *resources, environment="prod")
    # Then the trail is named, with what to set
    only_message(messages, TRAIL, "CloudWatch Logs group", "found not set", "cloud_watch_logs")


def test_trail_log_group_unencrypted_is_reported():
    # Given the trail's group stripped of its CMK
    resources = [trail(), *trail_delivery(kmsKeyId=None)]
    messages = run_policy(cloudtrail.CLOUDWATCH_DELIVERY, *resources, environment="prod")
    only_message(messages, TRAIL, "mlops-prod-trail-events", "customer managed", "kms_key_id")


def test_trail_delivery_role_another_service_assumes_is_reported():
    # Given the delivery role swapped for one Lambda may assume (code that writes events)
    trust = {
        "Effect": "Allow",
        "Principal": {"Service": ["lambda.amazonaws.com"]},
        "Action": ["sts:AssumeRole"],
    }
    lambda_role = Res(
        "aws:iam/role:Role",
        "mlops-prod-forwarder",
        {"assumeRolePolicy": doc(trust)},
        arn=role_arn("mlops-prod-forwarder"),
    )
    resources = [
        trail(cloudWatchLogsRoleArn=role_arn("mlops-prod-forwarder")),
        trail_delivery()[0],
        lambda_role,
    ]
    messages = run_policy(cloudtrail.CLOUDWATCH_DELIVERY, *resources, environment="prod")
    only_message(messages, TRAIL, "only CloudTrail assumes", "mlops-prod-forwarder")


# -- the CIS section-4 filters, each alarmed ----------------------------------------------
def test_cis_root_usage_filter_deleted_is_reported():
    # Given an attacker who deletes the root-usage filter before using the root user
    resources = _without(_monitored_trail(), "mlops-prod-cis-root-account-usage")
    messages = run_policy(logs.CIS_FILTERS_ALARMED, *resources, environment="prod")
    only_message(messages, TRAIL, "CIS 4.3", "no metric filter with the benchmark's pattern")


def test_cis_pattern_weakened_is_reported():
    # Given the root-usage filter narrowed to console logins only (API use goes unseen)
    weakened = ROOT_PATTERN.replace("}", '&& $.eventName = "ConsoleLogin" }')
    resources = _replaced(_monitored_trail(), "mlops-prod-cis-root-account-usage", pattern=weakened)
    messages = run_policy(logs.CIS_FILTERS_ALARMED, *resources, environment="prod")
    only_message(messages, TRAIL, "CIS 4.3", "no metric filter")


def test_cis_pattern_reformatted_still_passes():
    # Given the benchmark's pattern with other spacing (as the console may store it)
    spaced = ROOT_PATTERN.replace(" && ", "  &&\n  ")
    resources = _replaced(_monitored_trail(), "mlops-prod-cis-root-account-usage", pattern=spaced)
    messages = run_policy(logs.CIS_FILTERS_ALARMED, *resources, environment="prod")
    assert messages == [], f"whitespace is not a weaker pattern: {messages}"


def test_cis_alarm_silenced_is_reported():
    # Given the CloudTrail-changes alarm left without actions (it fires into the void)
    resources = _replaced(
        _monitored_trail(), "mlops-prod-cis-cloudtrail-changes-alarm", alarmActions=[]
    )
    messages = run_policy(logs.CIS_FILTERS_ALARMED, *resources, environment="prod")
    only_message(messages, TRAIL, "CIS 4.5", "CISBenchmark/CloudtrailChanges", "encrypted")


def test_cis_alarms_to_an_unencrypted_topic_are_reported_per_recommendation():
    # Given the security topic's CMK removed: alarm contents readable at rest
    resources = _replaced(_monitored_trail(), "mlops-prod-alarms", kmsMasterKeyId=None)
    messages = run_policy(logs.CIS_FILTERS_ALARMED, *resources, environment="prod")
    assert len(messages) == 15, messages
    assert {m.split("(")[0] for m in messages} == {f"{TRAIL}CIS 4.{n} " for n in range(1, 16)}, (
        messages
    )


def test_cis_filters_on_another_log_group_are_reported():
    # Given the filters moved to a group the trail does not deliver to
    resources = [
        r.with_props(logGroupName="/attacker/empty")
        if r.type == "aws:cloudwatch/logMetricFilter:LogMetricFilter"
        else r
        for r in _monitored_trail()
    ]
    messages = run_policy(logs.CIS_FILTERS_ALARMED, *resources, environment="prod")
    assert len(messages) == 15 and all("no metric filter" in m for m in messages), messages


# -- alarm topics reach someone --------------------------------------------------------------
def test_prod_alarm_topic_without_subscription_is_reported():
    # Given prod's alarm topic with its only subscription removed: rollbacks reach nobody
    resources = [topic(), alarm("mlops-prod-m-model-latency-p99")]
    messages = run_policy(sns.ALARM_TOPIC_SUBSCRIBED, *resources, environment="prod")
    only_message(messages, TOPIC, "must reach someone in prod", "1 alarm(s)", "mlops:alerts")


@pytest.mark.parametrize(
    "reader", [subscription(), subscription("https", "https://events.example.com/x"), slack()]
)
def test_prod_alarm_topic_read_by_email_https_or_chatbot_passes(reader):
    resources = [topic(), alarm("mlops-prod-m-model-latency-p99"), reader]
    messages = run_policy(sns.ALARM_TOPIC_SUBSCRIBED, *resources, environment="prod")
    assert messages == [], f"{reader.name} reads the topic: {messages}"


@pytest.mark.parametrize("environment", ["prod", "dev"])
def test_alarm_topic_posting_to_plain_http_is_reported(environment):
    # Given an attacker's http subscription next to the on-call email: alarms in clear text
    resources = [
        topic(),
        alarm("mlops-prod-m-model-latency-p99"),
        subscription(),
        subscription("http", "http://collector.attacker.example/"),
    ]
    messages = run_policy(sns.ALARM_TOPIC_SUBSCRIBED, *resources, environment=environment)
    only_message(messages, TOPIC, "plain http", "mlops-prod-serving-http", "https://")


def test_dev_alarm_topic_without_subscription_passes():
    resources = [topic(), alarm("mlops-dev-m-model-latency-p99")]
    assert run_policy(sns.ALARM_TOPIC_SUBSCRIBED, *resources, environment="dev") == []


def test_topic_no_alarm_notifies_is_not_applicable():
    other = Res(
        "aws:sns/topic:Topic",
        "mlops-prod-other",
        {"kmsMasterKeyId": KEY_ARN},
        arn=f"arn:aws:sns:eu-west-1:{ACCOUNT}:other",
    )
    statuses = statuses_of(sns.ALARM_TOPIC_SUBSCRIBED, other, environment="prod")
    assert statuses == {"mlops-prod-other": "not-applicable"}, statuses
