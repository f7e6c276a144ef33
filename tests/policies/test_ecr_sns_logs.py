"""ECR, SNS and CloudWatch policies."""

from __future__ import annotations

import pytest

from policies import ecr, logs, sns
from tests.policies.fixtures import KEY_ARN, TOPIC_ARN, alarm, doc, topic
from tests.policies.harness import Res, only_message, run_policy

REPO = "ECR repository `mlops-prod-images`: "


def repository(**props) -> Res:
    base = {
        "name": "mlops-prod-model-server",
        "imageTagMutability": "IMMUTABLE",
        "imageScanningConfiguration": {"scanOnPush": True},
        "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY_ARN}],
    }
    return Res(
        "aws:ecr/repository:Repository",
        "mlops-prod-images",
        {k: v for k, v in {**base, **props}.items() if v is not None},
        id="mlops-prod-model-server",
    )


def lifecycle() -> Res:
    return Res(
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "mlops-prod-images-lifecycle",
        {"repository": "mlops-prod-model-server", "policy": '{"rules": []}'},
    )


def log_group(**props) -> Res:
    base = {"kmsKeyId": KEY_ARN, "retentionInDays": 365.0}
    return Res(
        "aws:cloudwatch/logGroup:LogGroup",
        "mlops-prod-flow-logs",
        {k: v for k, v in {**base, **props}.items() if v is not None},
    )


ALL = (*ecr.POLICIES, *sns.POLICIES, *logs.POLICIES)


@pytest.mark.parametrize("policy", ALL, ids=lambda p: p.name)
def test_registry_and_monitoring_policy_compliant_resources_pass(policy):
    # Given a repository with its lifecycle, an encrypted topic, a log group and an alarm
    resources = [repository(), lifecycle(), topic(), log_group(), alarm("a")]
    # When each policy runs
    messages = run_policy(policy, *resources)
    # Then nothing is reported
    assert messages == [], f"{policy.name} must pass compliant resources: {messages}"


@pytest.mark.parametrize(
    ("policy", "props", "fragments"),
    [
        (ecr.TAGS_IMMUTABLE, {"imageTagMutability": "MUTABLE"}, ["IMMUTABLE", "found MUTABLE"]),
        (ecr.TAGS_IMMUTABLE, {"imageTagMutability": None}, ["found MUTABLE"]),
        (ecr.SCAN_ON_PUSH, {"imageScanningConfiguration": None}, ["scanned", "found not set"]),
        (
            ecr.ENCRYPTED_WITH_CMK,
            {"encryptionConfigurations": None},
            ["found encryption_type AES256"],
        ),
        (
            ecr.ENCRYPTED_WITH_CMK,
            {"encryptionConfigurations": [{"encryptionType": "KMS"}]},
            ["AWS managed aws/ecr key"],
        ),
    ],
    ids=["mutable", "mutable-default", "no-scan", "aes256", "aws-managed-key"],
)
def test_repository_policy_weak_setting_reports_value(policy, props, fragments):
    # Given a repository with one weak setting
    # When the policy for that setting runs
    messages = run_policy(policy, repository(**props))
    # Then it reports the setting
    only_message(messages, REPO, *fragments)


def test_lifecycle_policy_repository_without_lifecycle_reported():
    # Given a repository and no lifecycle policy
    # When the lifecycle policy runs
    messages = run_policy(ecr.LIFECYCLE_POLICY, repository())
    # Then the missing resource is named
    only_message(messages, REPO, "found no LifecyclePolicy", "aws.ecr.LifecyclePolicy")


def test_repository_policy_public_pull_reported():
    # Given a repository policy letting anyone pull
    policy = Res(
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        "pull",
        {
            "repository": "r",
            "policy": doc(
                {
                    "Sid": "Anyone",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "ecr:BatchGetImage",
                }
            ),
        },
    )
    # When the public policy check runs
    messages = run_policy(ecr.POLICY_NOT_PUBLIC, policy)
    # Then the statement is named
    only_message(messages, "ECR repository policy `pull`: ", "statement Anyone")


@pytest.mark.parametrize(
    ("key", "fragment"),
    [(None, "found not set"), ("alias/aws/sns", "not an AWS managed one")],
    ids=["unset", "aws-managed"],
)
def test_topic_kms_policy_weak_key_reports_value(key, fragment):
    # Given a topic without a customer managed key
    resource = (
        topic(kmsMasterKeyId=key) if key else Res("aws:sns/topic:Topic", "mlops-prod-alarms", {})
    )
    # When the topic KMS policy runs
    messages = run_policy(sns.ENCRYPTED_WITH_CMK, resource)
    # Then the key setting is reported
    only_message(messages, "SNS topic `mlops-prod-alarms`: ", fragment, "kms_master_key_id")


def test_topic_policy_unscoped_cloudwatch_publish_reported():
    # Given a topic policy letting CloudWatch publish on behalf of any account
    policy = Res(
        "aws:sns/topicPolicy:TopicPolicy",
        "tp",
        {
            "arn": TOPIC_ARN,
            "policy": doc(
                {
                    "Sid": "Alarms",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": TOPIC_ARN,
                }
            ),
        },
    )
    # When the topic policy check runs
    messages = run_policy(sns.POLICY_RESTRICTED, policy)
    # Then the confused-deputy guard is asked for
    only_message(
        messages, "SNS topic policy `tp`: ", "cloudwatch.amazonaws.com", "aws:SourceAccount"
    )


def test_log_group_kms_policy_unencrypted_group_reported():
    # Given a log group without a CMK
    # When the log group KMS policy runs
    messages = run_policy(logs.LOG_GROUP_ENCRYPTED, log_group(kmsKeyId=None))
    # Then the key setting is reported
    only_message(
        messages, "log group `mlops-prod-flow-logs`: ", "customer managed KMS key", "kms_key_id"
    )


@pytest.mark.parametrize(
    ("days", "fragments"),
    [
        (None, ["retention period must be set", "found not set"]),
        (30.0, ["at least 365 days", "found 30 days"]),
    ],
    ids=["forever", "short"],
)
def test_log_retention_policy_bad_retention_reports_days(days, fragments):
    # Given a log group kept forever or for a month
    # When the retention policy runs
    messages = run_policy(logs.LOG_GROUP_RETENTION, log_group(retentionInDays=days))
    # Then the retention is reported
    only_message(messages, "log group `mlops-prod-flow-logs`: ", *fragments)


@pytest.mark.parametrize(
    ("resources", "fragment"),
    [
        ([alarm("a", alarmActions=None), topic()], "must notify an SNS topic"),
        ([alarm("a")], "declared (and encrypted) in this stack"),
        ([alarm("a"), topic(kmsMasterKeyId=None)], "must be KMS-encrypted"),
    ],
    ids=["no-actions", "foreign-topic", "plain-topic"],
)
def test_alarm_topic_policy_unsafe_notification_reported(resources, fragment):
    # Given an alarm that notifies nobody, an unknown topic, or an unencrypted one
    # When the alarm policy runs
    messages = run_policy(logs.ALARM_NOTIFIES_ENCRYPTED_TOPIC, *resources)
    # Then the problem is named
    only_message(messages, "CloudWatch alarm `a`: ", fragment)
