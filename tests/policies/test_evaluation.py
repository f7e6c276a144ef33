"""The IAM evaluator, rule by rule, on examples from AWS's documentation.

Each document is the example as the IAM User Guide (or the KMS Developer Guide) prints
it, and each expected decision is the one the guide states; the section is named on
each test.
"""

from __future__ import annotations

import pytest

from common.iam_document import parse_document
from policies.evaluation import Policy, Request, UnsupportedPolicy, decides, evaluate

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Alice"
CALLER = f"arn:aws:sts::{ACCOUNT}:assumed-role/Alice/session"


def policy(*statements: dict[str, object], name: str = "policy") -> Policy:
    return Policy(name, parse_document({"Version": "2012-10-17", "Statement": list(statements)}))


def ask(action: str, resource: str, context: dict[str, list[str]] | None = None) -> Request:
    return Request(
        CALLER,
        action,
        resource,
        {k.lower(): v for k, v in (context or {}).items()},
        principal_aliases=(ROLE,),
    )


# "The difference between explicit and implicit denies": AllowGetList + DenyReports.
GET_LIST_NO_REPORTS = policy(
    {
        "Sid": "AllowGetList",
        "Effect": "Allow",
        "Action": ["iam:Get*", "iam:List*"],
        "Resource": "*",
    },
    {"Sid": "DenyReports", "Effect": "Deny", "Action": "iam:*Report", "Resource": "*"},
)


def test_allow_with_wildcard_action_allows_a_matching_action() -> None:
    outcome = evaluate(ask("iam:GetRole", "*"), [GET_LIST_NO_REPORTS])
    assert outcome.decision == "allow", "iam:Get* covers iam:GetRole (explicit vs implicit deny)"
    assert [m.statement.sid for m in outcome.matches] == ["AllowGetList"], outcome


def test_action_not_listed_is_implicitly_denied() -> None:
    outcome = evaluate(ask("iam:CreatePolicy", "*"), [GET_LIST_NO_REPORTS])
    assert outcome.decision == "implicit-deny", "nothing allows iam:CreatePolicy"


def test_explicit_deny_wins_over_an_allow_in_another_policy() -> None:
    grant = policy({"Effect": "Allow", "Action": "iam:GenerateCredentialReport", "Resource": "*"})
    outcome = evaluate(ask("iam:GenerateCredentialReport", "*"), [grant, GET_LIST_NO_REPORTS])
    assert outcome.decision == "explicit-deny", "DenyReports wins over the other policy's Allow"
    assert outcome.matches[0].statement.sid == "DenyReports"


def test_action_names_match_case_insensitively() -> None:
    outcome = evaluate(ask("IAM:getrole", "*"), [GET_LIST_NO_REPORTS])
    assert outcome.allowed, "action names are not case sensitive (IAM JSON elements: Action)"


# "IAM JSON policy elements: NotAction".
def test_not_action_allow_covers_every_other_action_on_its_resources() -> None:
    document = policy(
        {"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "arn:aws:s3:::*"}
    )
    assert evaluate(ask("s3:GetObject", "arn:aws:s3:::bucket/key"), [document]).allowed
    assert not evaluate(ask("s3:DeleteBucket", "arn:aws:s3:::bucket"), [document]).allowed
    # "This policy also does not allow actions in other services": not on S3 resources.
    assert not evaluate(ask("ec2:RunInstances", "arn:aws:ec2:::instance/i-1"), [document]).allowed


def test_not_action_deny_without_mfa_denies_everything_but_iam() -> None:
    document = policy(
        {"Effect": "Allow", "Action": ["s3:GetObject", "iam:ListUsers"], "Resource": "*"},
        {
            "Sid": "DenyAllUsersNotUsingMFA",
            "Effect": "Deny",
            "NotAction": "iam:*",
            "Resource": "*",
            "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
        },
    )
    no_mfa = {"aws:MultiFactorAuthPresent": ["false"]}
    assert evaluate(ask("s3:GetObject", "*", no_mfa), [document]).decision == "explicit-deny"
    assert evaluate(ask("iam:ListUsers", "*", no_mfa), [document]).allowed, "iam:* is excepted"
    with_mfa = {"aws:MultiFactorAuthPresent": ["true"]}
    assert evaluate(ask("s3:GetObject", "*", with_mfa), [document]).allowed
    # BoolIfExists: a request without the key (long-term access keys) is denied too.
    assert evaluate(ask("s3:GetObject", "*"), [document]).decision == "explicit-deny"


# "IAM JSON policy elements: NotResource" (HRPayroll).
def test_not_resource_deny_denies_everything_outside_the_listed_resources() -> None:
    document = policy(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "s3:*",
            "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"],
        },
    )
    inside = ask("s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/jan.csv")
    outside = ask("s3:GetObject", "arn:aws:s3:::HRBucket/Other/jan.csv")
    assert evaluate(inside, [document]).allowed
    assert evaluate(outside, [document]).decision == "explicit-deny"


def test_resource_wildcards_are_case_sensitive_and_question_mark_is_one_character() -> None:
    document = policy(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/models/v?/*"}
    )
    assert evaluate(ask("s3:GetObject", "arn:aws:s3:::bucket/models/v1/a"), [document]).allowed
    assert not evaluate(ask("s3:GetObject", "arn:aws:s3:::bucket/models/v10/a"), [document]).allowed
    assert not evaluate(ask("s3:GetObject", "arn:aws:s3:::bucket/Models/v1/a"), [document]).allowed


# "IAM JSON policy elements: Condition operators".
@pytest.mark.parametrize(
    ("operator", "values", "request_value", "expected"),
    [
        ("StringEquals", ["PendingManualApproval"], "PendingManualApproval", True),
        ("StringEquals", ["PendingManualApproval"], "pendingmanualapproval", False),
        ("StringEqualsIgnoreCase", ["PendingManualApproval"], "pendingmanualapproval", True),
        ("StringNotEquals", ["Approved"], "PendingManualApproval", True),
        ("StringNotEquals", ["Approved", "Rejected"], "Rejected", False),
        ("StringLike", ["home/${aws:username}/*"], "home/${aws:username}/x", True),
        ("StringLike", ["models/*"], "training/x", False),
        ("StringNotLike", ["models/*"], "training/x", True),
        ("Bool", ["true"], "true", True),
        ("Bool", ["true"], "false", False),
        ("NumericLessThanEquals", ["10"], "10", True),
        ("NumericLessThan", ["10"], "11", False),
    ],
)
def test_condition_operator_compares_the_request_value(
    operator: str, values: list[str], request_value: str, expected: bool
) -> None:
    document = policy(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": {operator: {"test:Key": values}},
        }
    )
    outcome = evaluate(ask("s3:GetObject", "*", {"test:Key": [request_value]}), [document])
    assert outcome.allowed is expected, f"{operator} {values} vs {request_value!r}"


def test_arn_like_matches_each_arn_field_separately() -> None:
    document = policy(
        {
            "Effect": "Allow",
            "Action": "sns:Publish",
            "Resource": "*",
            "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::*"}},
        }
    )
    bucket = ask("sns:Publish", "*", {"aws:SourceArn": ["arn:aws:s3:::my-bucket"]})
    assert evaluate(bucket, [document]).allowed
    # `*` in the resource field cannot swallow the colons of other fields.
    other = ask("sns:Publish", "*", {"aws:SourceArn": ["arn:aws:s3:eu-west-1:1:x"]})
    assert not evaluate(other, [document]).allowed


def test_arn_equals_on_a_key_arn() -> None:
    key = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234"
    document = policy(
        {
            "Effect": "Allow",
            "Action": "sagemaker:CreateTrainingJob",
            "Resource": "*",
            "Condition": {"ArnEquals": {"sagemaker:VolumeKmsKey": key}},
        }
    )
    right = ask("sagemaker:CreateTrainingJob", "*", {"sagemaker:VolumeKmsKey": [key]})
    wrong = ask("sagemaker:CreateTrainingJob", "*", {"sagemaker:VolumeKmsKey": [key + "5"]})
    assert evaluate(right, [document]).allowed and not evaluate(wrong, [document]).allowed


def test_absent_key_fails_a_positive_operator_and_satisfies_a_negated_one() -> None:
    # "If the key that you specify in a policy condition is not present in the request
    # context, the values do not match and the condition is false. If the policy condition
    # requires that the key is not matched, such as StringNotLike ..., the condition is true."
    positive = policy(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": "ml"}},
        }
    )
    negated = policy(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": {"StringNotLike": {"aws:PrincipalTag/team": "ops*"}},
        }
    )
    assert not evaluate(ask("s3:GetObject", "*"), [positive]).allowed
    assert evaluate(ask("s3:GetObject", "*"), [negated]).allowed


def test_if_exists_is_true_when_the_key_is_absent() -> None:
    document = policy(
        {
            "Effect": "Allow",
            "Action": "ec2:RunInstances",
            "Resource": "*",
            "Condition": {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*"]}},
        }
    )
    assert evaluate(ask("ec2:RunInstances", "*"), [document]).allowed
    big = ask("ec2:RunInstances", "*", {"ec2:InstanceType": ["m5.24xlarge"]})
    assert not evaluate(big, [document]).allowed


def test_null_checks_whether_the_key_is_present() -> None:
    # "Condition operator to check existence of condition keys": Null true = absent.
    document = policy(
        {
            "Effect": "Allow",
            "Action": "ec2:RunInstances",
            "Resource": "*",
            "Condition": {"Null": {"aws:TokenIssueTime": "true"}},
        }
    )
    assert evaluate(ask("ec2:RunInstances", "*"), [document]).allowed
    temporary = ask("ec2:RunInstances", "*", {"aws:TokenIssueTime": ["2026-01-01T00:00:00Z"]})
    assert not evaluate(temporary, [document]).allowed


def test_several_keys_and_operators_must_all_hold() -> None:
    document = policy(
        {
            "Effect": "Allow",
            "Action": "sagemaker:CreateModelPackage",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"sagemaker:ModelApprovalStatus": "PendingManualApproval"},
                "Bool": {"aws:SecureTransport": "true"},
            },
        }
    )
    both = {
        "sagemaker:ModelApprovalStatus": ["PendingManualApproval"],
        "aws:SecureTransport": ["true"],
    }
    one = {"sagemaker:ModelApprovalStatus": ["PendingManualApproval"]}
    assert evaluate(ask("sagemaker:CreateModelPackage", "*", both), [document]).allowed
    assert not evaluate(ask("sagemaker:CreateModelPackage", "*", one), [document]).allowed


def test_condition_key_names_ignore_case() -> None:
    document = policy(
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": ROLE,
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        }
    )
    request = ask("iam:PassRole", ROLE, {"IAM:passedtoservice": ["sagemaker.amazonaws.com"]})
    assert evaluate(request, [document]).allowed
    ec2 = ask("iam:PassRole", ROLE, {"iam:PassedToService": ["ec2.amazonaws.com"]})
    assert not evaluate(ec2, [document]).allowed, "PassRole to another service is not granted"


# "Multivalued context key examples".
TAGS_DENY = policy(
    {"Effect": "Allow", "Action": "iam:TagUser", "Resource": "*"},
    {
        "Effect": "Deny",
        "Action": "iam:TagUser",
        "Resource": "*",
        "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": ["key1*"]}},
    },
)


def test_for_any_value_matches_when_one_request_value_matches() -> None:
    hit = ask("iam:TagUser", "*", {"aws:TagKeys": ["key1-a", "other"]})
    miss = ask("iam:TagUser", "*", {"aws:TagKeys": ["other"]})
    assert evaluate(hit, [TAGS_DENY]).decision == "explicit-deny"
    assert evaluate(miss, [TAGS_DENY]).allowed
    assert evaluate(ask("iam:TagUser", "*"), [TAGS_DENY]).allowed, "no keys: ForAnyValue false"


def test_for_all_values_is_true_for_an_absent_key() -> None:
    # "The ForAllValues set operator also returns true if there are no context keys."
    document = policy(
        {
            "Effect": "Allow",
            "Action": "sagemaker:CreateModel",
            "Resource": "*",
            "Condition": {
                "ForAllValues:StringEquals": {"sagemaker:VpcSubnets": ["subnet-1", "subnet-2"]}
            },
        }
    )
    subset = ask("sagemaker:CreateModel", "*", {"sagemaker:VpcSubnets": ["subnet-1"]})
    stray = ask("sagemaker:CreateModel", "*", {"sagemaker:VpcSubnets": ["subnet-1", "subnet-9"]})
    assert evaluate(subset, [document]).allowed
    assert not evaluate(stray, [document]).allowed
    assert evaluate(ask("sagemaker:CreateModel", "*"), [document]).allowed


# Resource-based policies and the KMS key policy ("Policy evaluation logic"; KMS
# Developer Guide, "Key policies in AWS KMS": the default statement enabling IAM policies).
BUCKET = "arn:aws:s3:::reports"


def test_same_account_resource_policy_alone_allows_the_named_principal() -> None:
    bucket = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ROLE},
            "Action": "s3:GetObject",
            "Resource": f"{BUCKET}/*",
        },
        name="bucket policy",
    )
    outcome = evaluate(ask("s3:GetObject", f"{BUCKET}/a"), [], [bucket])
    assert outcome.allowed, "a same-account resource policy naming the role allows by itself"
    someone_else = Request(
        "arn:aws:sts::111122223333:assumed-role/Bob/s", "s3:GetObject", f"{BUCKET}/a", {}
    )
    assert not evaluate(someone_else, [], [bucket]).allowed


def test_deny_in_a_resource_policy_wins_over_an_identity_allow() -> None:
    identity = policy({"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"{BUCKET}/*"})
    bucket = policy(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": f"{BUCKET}/*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    plain = ask("s3:PutObject", f"{BUCKET}/a", {"aws:SecureTransport": ["false"]})
    tls = ask("s3:PutObject", f"{BUCKET}/a", {"aws:SecureTransport": ["true"]})
    assert evaluate(plain, [identity], [bucket]).decision == "explicit-deny"
    assert evaluate(tls, [identity], [bucket]).allowed


KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234"
IDENTITY_SIGN = policy({"Effect": "Allow", "Action": "kms:Sign", "Resource": KEY})


def test_key_policy_without_root_makes_identity_policies_ineffective() -> None:
    key_policy = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/Other"},
            "Action": "kms:*",
            "Resource": "*",
        },
        name="key policy",
    )
    outcome = evaluate(ask("kms:Sign", KEY), [IDENTITY_SIGN], [key_policy], resource_required=True)
    assert outcome.decision == "implicit-deny", "KMS: the key policy must allow, or delegate"


def test_key_policy_naming_the_account_root_delegates_to_iam_policies() -> None:
    key_policy = policy(
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        name="key policy",
    )
    outcome = evaluate(ask("kms:Sign", KEY), [IDENTITY_SIGN], [key_policy], resource_required=True)
    assert outcome.allowed, "root in the key policy lets IAM policies grant the key"
    assert not evaluate(ask("kms:Sign", KEY), [], [key_policy], resource_required=True).allowed


def test_key_policy_naming_the_role_allows_without_an_identity_policy() -> None:
    key_policy = policy(
        {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Sign", "Resource": "*"},
        name="key policy",
    )
    assert evaluate(ask("kms:Sign", KEY), [], [key_policy], resource_required=True).allowed


def test_not_principal_deny_spares_only_the_named_principal() -> None:
    bucket = policy(
        {
            "Effect": "Deny",
            "NotPrincipal": {"AWS": ROLE},
            "Action": "s3:*",
            "Resource": f"{BUCKET}/*",
        }
    )
    identity = policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/*"})
    bob = Request("arn:aws:sts::111122223333:assumed-role/Bob/s", "s3:GetObject", f"{BUCKET}/a", {})
    assert evaluate(ask("s3:GetObject", f"{BUCKET}/a"), [identity], [bucket]).allowed
    assert evaluate(bob, [identity], [bucket]).decision == "explicit-deny"


def test_unmodelled_operator_fails_loudly_instead_of_allowing() -> None:
    document = policy(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "*",
            "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
        }
    )
    with pytest.raises(UnsupportedPolicy, match="DateLessThan"):
        evaluate(
            ask("s3:GetObject", "*", {"aws:CurrentTime": ["2026-01-01T00:00:00Z"]}), [document]
        )


def test_unknown_context_reads_allows_as_granted_and_conditional_denies_as_unmet() -> None:
    statements = parse_document(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sagemaker:CreateModelPackage",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}
                    },
                },
                {"Effect": "Deny", "Action": "sagemaker:UpdateModelPackage", "Resource": "*"},
            ]
        }
    )
    assert decides(statements, "sagemaker:CreateModelPackage", "arn:x"), (
        "conditional grant: a power"
    )
    assert not decides(statements, "sagemaker:UpdateModelPackage", "arn:x"), "unconditional deny"
