"""Alarms that reach people, read from the rendered graphs: the trail's CloudWatch Logs
delivery, the CIS v3.0.0 section-4 filters and alarms, the subscriptions of every alarm
topic, the per-endpoint dashboard, and drift and quality alarms that never roll back.

Expected values are literals: the CIS patterns below are copied from the benchmark, not
read from infra/cis.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.config import ConfigError, parse_stack_config
from infra.graph import Graph, Resource
from tests.infra.helpers import policy_of, statements

ACCOUNT = "123456789012"
ALARM_T = "aws:cloudwatch/metricAlarm:MetricAlarm"
FILTER_T = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
SUBSCRIPTION_T = "aws:sns/topicSubscription:TopicSubscription"
CHATBOT_T = "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration"
TRAIL_GROUP = "/mlops-prod/cloudtrail"
SECURITY_TOPIC = f"arn:aws:sns:eu-west-1:{ACCOUNT}:mlops-prod-security-alarms"
SERVING_TOPIC = "arn:aws:sns:eu-west-1:{account}:mlops-{stack}-serving-alarms"


def _ev(*names: str, quoted: bool = False) -> str:
    q = '"' if quoted else ""
    return " || ".join(f"($.eventName = {q}{n}{q})" for n in names)


# CIS AWS Foundations Benchmark v3.0.0, section 4: recommendation -> (metric, pattern).
CIS = {
    "4.1": ("UnauthorizedApiCalls", '{ (($.errorCode = "*UnauthorizedOperation") || '
            '($.errorCode = "AccessDenied*")) && ($.sourceIPAddress != '
            '"delivery.logs.amazonaws.com") && ($.eventName != "HeadBucket") }'),
    "4.2": ("ConsoleSigninWithoutMfa", '{ ($.eventName = "ConsoleLogin") && '
            '($.additionalEventData.MFAUsed != "Yes") && ($.userIdentity.type = "IAMUser") '
            '&& ($.responseElements.ConsoleLogin = "Success") }'),
    "4.3": ("RootAccountUsage", '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy '
            'NOT EXISTS && $.eventType != "AwsServiceEvent" }'),
    "4.4": ("IamPolicyChanges", "{ ($.eventSource = iam.amazonaws.com) && ("
            + _ev("DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy",
                  "PutRolePolicy", "PutUserPolicy", "CreatePolicy", "DeletePolicy",
                  "CreatePolicyVersion", "DeletePolicyVersion", "AttachRolePolicy",
                  "DetachRolePolicy", "AttachUserPolicy", "DetachUserPolicy",
                  "AttachGroupPolicy", "DetachGroupPolicy") + ") }"),
    "4.5": ("CloudtrailChanges", "{ " + _ev("CreateTrail", "UpdateTrail", "DeleteTrail",
                                             "StartLogging", "StopLogging") + " }"),
    "4.6": ("ConsoleAuthenticationFailures",
            '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }'),
    "4.7": ("CmkDisableOrDeletion", "{ ($.eventSource = kms.amazonaws.com) && ("
            + _ev("DisableKey", "ScheduleKeyDeletion") + ") }"),
    "4.8": ("S3BucketPolicyChanges", "{ ($.eventSource = s3.amazonaws.com) && ("
            + _ev("PutBucketAcl", "PutBucketPolicy", "PutBucketCors", "PutBucketLifecycle",
                  "PutBucketReplication", "DeleteBucketPolicy", "DeleteBucketCors",
                  "DeleteBucketLifecycle", "DeleteBucketReplication") + ") }"),
    "4.9": ("ConfigChanges", "{ ($.eventSource = config.amazonaws.com) && ("
            + _ev("StopConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel",
                  "PutConfigurationRecorder") + ") }"),
    "4.10": ("SecurityGroupChanges", "{ "
             + _ev("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
                   "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress",
                   "CreateSecurityGroup", "DeleteSecurityGroup") + " }"),
    "4.11": ("NaclChanges", "{ "
             + _ev("CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl",
                   "DeleteNetworkAclEntry", "ReplaceNetworkAclEntry",
                   "ReplaceNetworkAclAssociation") + " }"),
    "4.12": ("NetworkGatewayChanges", "{ "
             + _ev("CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway",
                   "CreateInternetGateway", "DeleteInternetGateway", "DetachInternetGateway")
             + " }"),
    "4.13": ("RouteTableChanges", "{ ($.eventSource = ec2.amazonaws.com) && ("
             + _ev("CreateRoute", "CreateRouteTable", "ReplaceRoute",
                   "ReplaceRouteTableAssociation", "DeleteRouteTable", "DeleteRoute",
                   "DisassociateRouteTable") + ") }"),
    "4.14": ("VpcChanges", "{ "
             + _ev("CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection",
                   "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection",
                   "RejectVpcPeeringConnection", "AttachClassicLinkVpc", "DetachClassicLinkVpc",
                   "DisableVpcClassicLink", "EnableVpcClassicLink") + " }"),
    "4.15": ("OrganizationsChanges", "{ ($.eventSource = organizations.amazonaws.com) && ("
             + _ev("AcceptHandshake", "AttachPolicy", "CreateAccount", "CreateOrganizationalUnit",
                   "CreatePolicy", "DeclineHandshake", "DeleteOrganization",
                   "DeleteOrganizationalUnit", "DeletePolicy", "DetachPolicy",
                   "DisablePolicyType", "EnablePolicyType", "InviteAccountToOrganization",
                   "LeaveOrganization", "MoveAccount", "RemoveAccountFromOrganization",
                   "UpdatePolicy", "UpdateOrganizationalUnit", quoted=True) + ") }"),
}  # fmt: skip


def _key_arn(graph: Graph, role: str) -> str:
    return graph.named(f"mlops-{graph.stack}-{role}-key", "aws:kms/key:Key").outputs["arn"]


def _serving_topic(graph: Graph) -> str:
    return SERVING_TOPIC.format(account=ACCOUNT, stack=graph.stack)


# -- the trail delivers to CloudWatch Logs ---------------------------------------------------
def test_prod_trail_delivers_to_its_cmk_encrypted_log_group(graph_of) -> None:
    graph = graph_of("prod")
    trail = graph.named("mlops-prod-trail", "aws:cloudtrail/trail:Trail").inputs
    assert trail["cloudWatchLogsGroupArn"] == (
        f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/mlops-prod/cloudtrail:*"
    ), trail
    group = graph.named("mlops-prod-trail-logs", "aws:cloudwatch/logGroup:LogGroup").inputs
    assert group["name"] == TRAIL_GROUP, group
    assert group["kmsKeyId"] == _key_arn(graph, "logs"), "the trail's group is on the logs CMK"
    assert group["retentionInDays"] == 365, "kept a year (Pulumi.prod.yaml)"


def test_trail_delivery_role_is_assumed_only_by_this_trail_and_writes_only_its_group(
    graph_of,
) -> None:
    graph = graph_of("prod")
    role = graph.named("mlops-prod-trail-delivery", "aws:iam/role:Role")
    trail = graph.named("mlops-prod-trail", "aws:cloudtrail/trail:Trail").inputs
    assert trail["cloudWatchLogsRoleArn"] == role.outputs["arn"], trail
    (trust,) = policy_of(role, "assumeRolePolicy")["Statement"]
    assert trust["Principal"] == {"Service": ["cloudtrail.amazonaws.com"]}, trust
    assert trust["Condition"] == {
        "StringEquals": {
            "aws:SourceAccount": ACCOUNT,
            "aws:SourceArn": f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/mlops-prod-trail",
        }
    }, trust
    grant = policy_of(graph.named("mlops-prod-trail-delivery-policy"))["Statement"]
    assert grant == [
        {
            "Sid": "DeliverTrailEvents",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [
                f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/mlops-prod/cloudtrail:log-stream:*"
            ],
        }
    ], grant


# -- the CIS section-4 filters and alarms -----------------------------------------------------
def _cis_filters(graph: Graph) -> dict[str, Resource]:
    return {
        f.inputs["metricTransformation"]["name"]: f
        for f in graph.of_type(FILTER_T)
        if f.inputs["logGroupName"] == TRAIL_GROUP
    }


@pytest.mark.parametrize("control", list(CIS), ids=lambda c: f"CIS-{c}")
def test_prod_has_the_cis_filter_with_the_benchmark_pattern(graph_of, control: str) -> None:
    metric, pattern = CIS[control]
    filters = _cis_filters(graph_of("prod"))
    assert metric in filters, f"CIS {control}: no filter for {metric} among {sorted(filters)}"
    inputs = filters[metric].inputs
    assert inputs["pattern"] == pattern, f"CIS {control}: {inputs['pattern']}"
    assert inputs["metricTransformation"] == {
        "name": metric,
        "namespace": "CISBenchmark",
        "value": "1",
    }, inputs


@pytest.mark.parametrize("control", list(CIS), ids=lambda c: f"CIS-{c}")
def test_prod_cis_alarm_fires_on_the_first_event_to_the_encrypted_security_topic(
    graph_of, control: str
) -> None:
    graph = graph_of("prod")
    metric = CIS[control][0]
    alarms = [
        a.inputs
        for a in graph.of_type(ALARM_T)
        if a.inputs.get("namespace") == "CISBenchmark" and a.inputs.get("metricName") == metric
    ]
    assert len(alarms) == 1, f"CIS {control}: one alarm on {metric}, got {alarms}"
    (alarm,) = alarms
    expected = {
        "statistic": "Sum",
        "period": 300,
        "evaluationPeriods": 1,
        "threshold": 1,
        "comparisonOperator": "GreaterThanOrEqualToThreshold",
        "alarmActions": [SECURITY_TOPIC],
    }
    assert {k: alarm.get(k) for k in expected} == expected, alarm
    assert alarm["name"].startswith("mlops-prod-cis-"), "the topic policy admits mlops-prod-*"
    topic = graph.named("mlops-prod-security-alarms", "aws:sns/topic:Topic").inputs
    assert topic["kmsMasterKeyId"] == _key_arn(graph, "data"), topic


def test_only_the_stack_with_a_trail_has_cis_filters(stack_graph: Graph) -> None:
    filters = stack_graph.of_type(FILTER_T)
    expected = 15 if stack_graph.stack == "prod" else 0
    assert len(filters) == expected, f"{stack_graph.stack}: {[f.name for f in filters]}"


# -- every alarm topic reaches the people the stack file names -------------------------------
def _subscribed(graph: Graph, topic: str) -> set[tuple[str, str]]:
    return {
        (s.inputs["protocol"], s.inputs["endpoint"])
        for s in graph.of_type(SUBSCRIPTION_T)
        if s.inputs["topic"] == topic
    }


def test_prod_alarm_topics_reach_the_example_email_webhook_and_slack(graph_of) -> None:
    graph = graph_of("prod")
    expected = {
        ("email", "ml-oncall@example.com"),
        ("email", "security-team@example.com"),
        ("https", "https://events.example.com/integration/mlops-prod/enqueue"),
    }
    for topic in (SECURITY_TOPIC, _serving_topic(graph)):
        assert _subscribed(graph, topic) == expected, topic
    (slack,) = graph.of_type(CHATBOT_T)
    assert sorted(slack.inputs["snsTopicArns"]) == sorted([SECURITY_TOPIC, _serving_topic(graph)])
    assert (slack.inputs["slackTeamId"], slack.inputs["slackChannelId"]) == (
        "T00000000",
        "C00000000",
    )
    assert slack.inputs["userAuthorizationRequired"] is True, slack.inputs
    assert slack.inputs["guardrailPolicyArns"] == [
        "arn:aws:iam::aws:policy/CloudWatchReadOnlyAccess"
    ], "channel members may only read CloudWatch through Chatbot"


def test_staging_serving_topic_reaches_the_example_email_and_dev_nobody(graph_of) -> None:
    staging, dev = graph_of("staging"), graph_of("dev")
    assert _subscribed(staging, _serving_topic(staging)) == {("email", "ml-oncall@example.com")}
    assert dev.of_type(SUBSCRIPTION_T) == [] and dev.of_type(CHATBOT_T) == []


def test_chatbot_role_only_describes_this_stacks_alarms(graph_of) -> None:
    graph = graph_of("prod")
    role = graph.named("mlops-prod-chatbot", "aws:iam/role:Role")
    (trust,) = policy_of(role, "assumeRolePolicy")["Statement"]
    assert trust["Principal"] == {"Service": ["chatbot.amazonaws.com"]}, trust
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}, trust
    (slack,) = graph.of_type(CHATBOT_T)
    assert slack.inputs["iamRoleArn"] == role.outputs["arn"]
    grants = statements(policy_of(graph.named("mlops-prod-chatbot-policy")))
    assert grants["DescribeStackAlarms"]["Action"] == [
        "cloudwatch:DescribeAlarmHistory",
        "cloudwatch:DescribeAlarms",
    ]
    assert grants["DescribeStackAlarms"]["Resource"] == [
        f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:mlops-prod-*"
    ]
    assert grants["DrawAlarmCharts"]["Action"] == ["cloudwatch:GetMetricWidgetImage"]
    assert set(grants) == {"DescribeStackAlarms", "DrawAlarmCharts"}, grants


# -- a dashboard per endpoint ------------------------------------------------------------------
def _metrics(body: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(namespace, metric, stat) of every metric line of every graph widget."""
    found = set()
    for widget in body["widgets"]:
        for line in widget["properties"].get("metrics", []):
            if isinstance(line[0], str):
                options = line[-1] if isinstance(line[-1], dict) else {}
                found.add((line[0], line[1], options.get("stat", "Average")))
    return found


def test_each_endpoint_has_a_dashboard_of_traffic_latency_errors_instances_drift_quality(
    stack_graph: Graph,
) -> None:
    endpoint = f"mlops-{stack_graph.stack}-churn-classifier"
    dashboard = stack_graph.named(
        f"{endpoint}-dashboard", "aws:cloudwatch/dashboard:Dashboard"
    ).inputs
    assert dashboard["dashboardName"] == endpoint, dashboard
    body = json.loads(dashboard["dashboardBody"])
    assert {
        ("AWS/SageMaker", "Invocations", "Sum"),
        ("AWS/SageMaker", "ModelLatency", "p50"),
        ("AWS/SageMaker", "ModelLatency", "p99"),
        ("AWS/SageMaker", "Invocation4XXErrors", "Sum"),
        ("AWS/SageMaker", "Invocation5XXErrors", "Sum"),
        ("AWS/SageMaker", "InvocationModelErrors", "Sum"),
        ("AWS/SageMaker", "InvocationsPerInstance", "Sum"),
        ("/aws/sagemaker/Endpoints", "CPUUtilization", "Average"),
        ("mlops/monitoring", "DriftedFeatures", "Maximum"),
        ("mlops/monitoring", "QualityRegressions", "Maximum"),
    } <= _metrics(body), _metrics(body)
    drift = [
        line
        for w in body["widgets"]
        for line in w["properties"].get("metrics", [])
        if "DriftedFeatures" in line
    ]
    assert drift[0][2:4] == ["EndpointName", endpoint], "the monitors' one dimension"
    alarms = body["widgets"][0]["properties"]["alarms"]
    assert f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:{endpoint}-feature-drift" in alarms


# -- drift and quality alarm, never roll back --------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "metric"),
    [("feature-drift", "DriftedFeatures"), ("quality-regression", "QualityRegressions")],
)
def test_monitor_alarm_watches_the_monitoring_metric_and_notifies_the_serving_topic(
    stack_graph: Graph, kind: str, metric: str
) -> None:
    endpoint = f"mlops-{stack_graph.stack}-churn-classifier"
    alarm = stack_graph.named(f"{endpoint}-{kind}", ALARM_T).inputs
    assert (alarm["namespace"], alarm["metricName"]) == ("mlops/monitoring", metric), alarm
    assert alarm["dimensions"] == {"EndpointName": endpoint}, alarm
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["period"] == 86400, "the monitors run daily"
    assert alarm["alarmActions"] == [_serving_topic(stack_graph)], alarm


def test_drift_and_quality_alarms_never_roll_a_deployment_back(stack_graph: Graph) -> None:
    endpoint = f"mlops-{stack_graph.stack}-churn-classifier"
    (ep,) = stack_graph.of_type("aws:sagemaker/endpoint:Endpoint")
    rollback = {
        a["alarmName"] for a in ep.inputs["deploymentConfig"]["autoRollbackConfiguration"]["alarms"]
    }
    assert f"{endpoint}-model-errors" in rollback, rollback
    assert f"{endpoint}-feature-drift" not in rollback, "drifting inputs are not a bad release"
    assert f"{endpoint}-quality-regression" not in rollback, rollback


BASE = {
    "aws:region": "eu-west-1",
    "mlops:environment": "staging",
    "mlops:owner": "ml-platform",
    "mlops:github": {"org": "acme", "repo": "mlops-gitops", "deployEnvironment": "staging"},
    "mlops:iam": {"auditorPrincipalArns": ["arn:aws:iam::111122223333:user/auditor"]},
}


def _error(**values: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config({**BASE, **values})
    return str(caught.value)


def test_parse_drift_alarm_as_a_rollback_alarm_is_refused() -> None:
    message = _error(**{"mlops:serving": {"alarms": {"rollbackAlarms": ["feature-drift"]}}})
    assert message.startswith(
        'mlops:serving.alarms.rollbackAlarms.0: invalid value "feature-drift"'
    ), message


def test_parse_plain_http_webhook_is_refused_in_one_line() -> None:
    message = _error(**{"mlops:alerts": {"webhooks": ["http://hooks.example.com/x"]}})
    assert message.startswith('mlops:alerts.webhooks: invalid value ["http://hooks'), message
    assert "is not an https:// URL" in message and "\n" not in message, message


@pytest.mark.parametrize(
    ("alerts", "key"),
    [
        ({"emails": ["on call@example"]}, "mlops:alerts.emails.0"),
        ({"slack": {"workspaceId": "acme", "channelId": "C00000000"}}, "mlops:alerts.slack"),
        ({"pager": ["x"]}, "mlops:alerts.pager: unknown key"),
    ],
    ids=["email", "slack-workspace", "typo"],
)
def test_parse_bad_alert_destination_names_the_key(alerts: dict, key: str) -> None:
    message = _error(**{"mlops:alerts": alerts})
    assert message.startswith(key), message


def test_parse_prod_without_alert_destinations_is_refused() -> None:
    message = _error(
        **{
            "mlops:environment": "prod",
            "mlops:buckets": {"artifactObjectLock": {"enabled": True}},
            "mlops:image": {"digest": "sha256:" + "0" * 64},
        }
    )
    assert message.startswith("mlops:alerts: prod's alarms must reach someone"), message


def test_alerts_placeholders_are_the_shipped_examples_only() -> None:
    # Given the shipped example destinations, then real-looking ones
    shipped = parse_stack_config(
        {
            **BASE,
            "mlops:alerts": {
                "emails": ["ml-oncall@example.com", "oncall@acme.io"],
                "webhooks": ["https://events.example.com/x", "https://example.company.io/x"],
                "slack": {"workspaceId": "T00000000", "channelId": "C00000000"},
            },
        }
    )
    # Then `mlops infra validate` warns about exactly the examples
    assert shipped.alerts.placeholders() == [
        "ml-oncall@example.com",
        "https://events.example.com/x",
        "slack T00000000/C00000000",
    ]
