"""IAM policies: no wildcards, no admin, pinned OIDC trust, scoped service trust, lint."""

from __future__ import annotations

import pytest

from policies import iam
from policies.iam import matches_any_resource
from tests.policies.fixtures import (
    ACCOUNT,
    GITHUB,
    KEY_ARN,
    Res,
    allow,
    doc,
    github_role,
    role_policy,
    service_role,
)
from tests.policies.harness import only_message, run_policy, statuses_of

KMS_FORMAT = "arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}"
OBJECT_FORMAT = "arn:${Partition}:s3:::${BucketName}/${ObjectName}"

ROLE_POLICY = "IAM inline policy `mlops-prod-training`: "
BUCKET = "arn:aws:s3:::mlops-prod-data-abc1234"


def _good_policy() -> Res:
    return role_policy(
        allow("ReadData", ["s3:GetObject"], [f"{BUCKET}/datasets/*"]),
        allow("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"]),
        allow(
            "Metrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            Condition={"StringEquals": {"cloudwatch:namespace": "mlops"}},
        ),
    )


@pytest.mark.parametrize("policy", iam.POLICIES, ids=lambda p: p.name)
def test_iam_policy_compliant_documents_pass(policy):
    # Given a least-privilege inline policy, a pinned GitHub role and a scoped service role
    # When each IAM policy runs
    messages = run_policy(policy, _good_policy(), github_role(), service_role())
    # Then nothing is reported
    assert messages == [], f"{policy.name} must pass compliant IAM: {messages}"


@pytest.mark.parametrize(
    "actions",
    [["s3:*"], ["s3:Get*"], ["*"]],
    ids=["service-star", "prefix-star", "star"],
)
def test_wildcard_action_policy_star_action_reports_action(actions):
    # Given an inline policy allowing a wildcard action
    document = role_policy(allow("Broad", actions, [f"{BUCKET}/*"]))
    # When the wildcard action policy runs
    messages = run_policy(iam.NO_WILDCARD_ACTIONS, document)
    # Then the statement and the wildcard are named
    only_message(
        messages, ROLE_POLICY, "statement Broad must not allow wildcard actions", actions[0]
    )


def test_wildcard_action_policy_not_action_reports_not_action():
    # Given an Allow with NotAction (as broad as a wildcard)
    statement = {"Sid": "Inverse", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    # When the wildcard action policy runs
    messages = run_policy(iam.NO_WILDCARD_ACTIONS, role_policy(statement))
    # Then NotAction is reported
    only_message(messages, ROLE_POLICY, "NotAction iam:*")


def test_wildcard_action_policy_deny_with_wildcard_passes():
    # Given a Deny of s3:* (wildcards only ever take rights away there)
    statement = {"Sid": "DenyAll", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}
    # When the wildcard action policy runs
    messages = run_policy(iam.NO_WILDCARD_ACTIONS, role_policy(statement))
    # Then it passes
    assert messages == [], f"a Deny with a wildcard is fine: {messages}"


def test_wildcard_resource_policy_decrypt_on_all_keys_reports_actions():
    # Given kms:Decrypt on every key (Security Hub KMS.1/KMS.2)
    document = role_policy(allow("AllKeys", ["kms:Decrypt", "ecr:GetAuthorizationToken"], ["*"]))
    # When the wildcard resource policy runs
    messages = run_policy(iam.NO_WILDCARD_RESOURCES, document)
    # Then only the action that has a narrower resource is named
    message = only_message(
        messages, ROLE_POLICY, "statement AllKeys", "kms:Decrypt", "name the ARNs"
    )
    assert "GetAuthorizationToken" not in message, f"'*' is the only option for it: {message}"


def test_admin_policy_star_on_star_reports_statement():
    # Given an inline policy granting everything
    document = role_policy(allow("Admin", ["*"], ["*"]))
    # When the admin policy runs
    messages = run_policy(iam.NO_ADMIN, document)
    # Then full administrator rights are reported
    only_message(messages, ROLE_POLICY, "statement Admin must not grant full administrator rights")


@pytest.mark.parametrize("name", ["AdministratorAccess", "PowerUserAccess", "IAMFullAccess"])
def test_admin_policy_attached_admin_managed_policy_reports_name(name):
    # Given an attachment of an AWS managed admin policy
    attachment = Res(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "attach",
        {"role": "r", "policyArn": f"arn:aws:iam::aws:policy/{name}"},
    )
    # When the admin policy runs
    messages = run_policy(iam.NO_ADMIN, attachment)
    # Then the managed policy is named
    only_message(messages, "IAM policy attachment `attach`: ", f"managed policy {name}")


def test_admin_policy_managed_policy_arns_on_role_reported():
    # Given a role with AdministratorAccess in managed_policy_arns
    role = github_role().with_props(
        managedPolicyArns=["arn:aws:iam::aws:policy/AdministratorAccess"]
    )
    # When the admin policy runs
    messages = run_policy(iam.NO_ADMIN, role)
    # Then the attachment through the role is reported
    only_message(messages, "IAM role `mlops-prod-gh-deploy`: ", "managed_policy_arns")


GH_ROLE = "IAM role `mlops-prod-gh-deploy`: "


@pytest.mark.parametrize(
    ("conditions", "fragments"),
    [
        (
            {"StringEquals": {f"{GITHUB}:sub": "repo:acme/mlops-gitops:environment:prod"}},
            [f"must pin {GITHUB}:aud", "found not set"],
        ),
        (
            {"StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com"}},
            [f"must pin {GITHUB}:sub to exact subjects"],
        ),
        (
            {
                "StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com"},
                "StringLike": {f"{GITHUB}:sub": "repo:acme/*"},
            },
            ["exactly, without wildcards", "repo:acme/*"],
        ),
        (
            {
                "StringEquals": {
                    f"{GITHUB}:aud": "evil",
                    f"{GITHUB}:sub": "repo:acme/x:ref:refs/heads/main",
                }
            },
            ['found ["evil"]'],
        ),
    ],
    ids=["no-aud", "no-sub", "wildcard-sub", "wrong-aud"],
)
def test_oidc_policy_loose_trust_reports_claim(conditions, fragments):
    # Given a GitHub OIDC role whose trust leaves a claim open
    # When the OIDC policy runs
    messages = run_policy(iam.OIDC_TRUST_PINNED, github_role(conditions))
    # Then the open claim is named with the condition to add
    only_message(messages, GH_ROLE, *fragments)


def test_oidc_policy_other_repository_reported_when_repositories_configured():
    # Given a role trusting another repository, and the pack configured for acme/mlops-gitops
    conditions = {
        "StringEquals": {
            f"{GITHUB}:aud": "sts.amazonaws.com",
            f"{GITHUB}:sub": "repo:evil/fork:ref:refs/heads/main",
        }
    }
    # When the OIDC policy runs with allowedRepositories
    messages = run_policy(
        iam.OIDC_TRUST_PINNED,
        github_role(conditions),
        config={"allowedRepositories": ["acme/mlops-gitops"]},
    )
    # Then the stray subject is reported
    only_message(messages, GH_ROLE, "may trust only repositories", "repo:evil/fork")


def test_oidc_policy_service_role_not_applicable():
    # Given a role trusted by SageMaker, not by an OIDC provider
    # When the OIDC policy runs
    statuses = statuses_of(iam.OIDC_TRUST_PINNED, service_role())
    # Then it is not judged
    assert statuses == {"mlops-prod-training": "not-applicable"}, statuses


def test_trust_public_policy_everyone_may_assume_reported():
    # Given a role anyone may assume
    trust = doc(
        {"Sid": "Anyone", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
    )
    role = Res("aws:iam/role:Role", "open", {"assumeRolePolicy": trust})
    # When the public trust policy runs
    messages = run_policy(iam.TRUST_NOT_PUBLIC, role)
    # Then the statement is reported
    only_message(messages, "IAM role `open`: ", "trust statement Anyone must not let everyone")


def test_service_trust_policy_unscoped_service_fails():
    # Given a SageMaker-trusted role without aws:SourceAccount
    # When the service trust policy runs
    messages = run_policy(iam.SERVICE_TRUST_SCOPED, service_role(conditions=False))
    # Then the confused-deputy guard is asked for
    only_message(
        messages, "IAM role `mlops-prod-training`: ", "sagemaker.amazonaws.com", "SourceAccount"
    )
    assert iam.SERVICE_TRUST_SCOPED.enforcement == "mandatory", "the confused deputy is a hole"


def test_service_trust_policy_any_source_account_fails():
    # Given a SageMaker-trusted role whose aws:SourceAccount condition matches any account
    trust = doc(
        {
            "Sid": "ServiceAssumes",
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringLike": {"aws:SourceAccount": "*"}},
        }
    )
    role = Res("aws:iam/role:Role", "mlops-prod-training", {"assumeRolePolicy": trust})
    # When the service trust policy judges the condition's value
    messages = run_policy(iam.SERVICE_TRUST_SCOPED, role)
    # Then the key's presence does not pass it
    only_message(messages, "sagemaker.amazonaws.com for any account")


def test_lint_policy_medium_finding_reports_parliament_issue():
    # Given a policy with a statement parliament flags MEDIUM or above (an invalid ARN format)
    document = role_policy(allow("Odd", ["s3:GetObject"], ["arn:aws:s3:::bucket"]))
    # When the lint policy runs
    messages = run_policy(iam.LINT_CLEAN, document)
    # Then parliament's finding is reported as what to fix
    only_message(messages, ROLE_POLICY, "must lint clean under parliament", "RESOURCE_MISMATCH")


def test_lint_policy_ignored_issue_passes():
    # Given the same finding, listed in ignoredIssues
    document = role_policy(allow("Odd", ["s3:GetObject"], ["arn:aws:s3:::bucket"]))
    # When the lint policy runs with that config
    messages = run_policy(iam.LINT_CLEAN, document, config={"ignoredIssues": ["RESOURCE_MISMATCH"]})
    # Then the tunable silences it
    assert messages == [], f"an ignored issue must not fail: {messages}"


def test_lint_policy_low_finding_passes_by_default():
    # Given a statement parliament flags only LOW (an action it does not know)
    document = role_policy(allow("Typo", ["s3:GetObjekt"], [f"{BUCKET}/*"]))
    # When the lint policy runs with the default failOnSeverities
    messages = run_policy(iam.LINT_CLEAN, document)
    # Then LOW findings are left to the report's lint section
    assert messages == [], f"LOW findings must not fail by default: {messages}"


@pytest.mark.parametrize(
    ("pattern", "arn_format", "broad"),
    [
        ("*", KMS_FORMAT, True),
        ("arn:aws:kms:*:*:key/*", KMS_FORMAT, True),
        ("arn:aws:kms:eu-west-1:*:key/*", KMS_FORMAT, True),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/*", KMS_FORMAT, False),
        (KEY_ARN, KMS_FORMAT, False),
        ("arn:aws:s3:::*", OBJECT_FORMAT, True),
        ("arn:aws:s3:::*/datasets/*", OBJECT_FORMAT, True),
        ("arn:aws:s3:::mlops-prod-data-abc/*", OBJECT_FORMAT, False),
        ("arn:aws:s3:::mlops-prod-*", OBJECT_FORMAT, False),
    ],
)
def test_resource_pattern_matching_every_account_is_broad(pattern, arn_format, broad):
    # Given a Resource pattern and the ARN format of the action's resource type (IAM SAR)
    # When it is judged
    # Then it is broad exactly when any account's (or any bucket's) resources match it
    assert matches_any_resource(pattern, arn_format) is broad, pattern


def test_wildcard_resources_kms_arn_pattern_fails():
    # Given kms:Decrypt on every key of every account, spelled as an ARN
    document = role_policy(allow("AnyKey", ["kms:Decrypt"], ["arn:aws:kms:*:*:key/*"]))
    # When the wildcard-resource rule runs
    messages = run_policy(iam.NO_WILDCARD_RESOURCES, document)
    # Then it fails like Resource '*'
    only_message(messages, "statement AnyKey", "arn:aws:kms:*:*:key/*", "kms:Decrypt")
