"""The IAM document model: documents as the IAM User Guide prints them, read into one shape,
written back as AWS accepts them, and bad documents refused with one error type.

The documents are the User Guide's own examples ("IAM JSON policy elements: NotPrincipal",
"IAM: Add a specific tag to a user with a specific tag", "Principal" element examples).
"""

from __future__ import annotations

import json

import pytest

from common.iam_document import (
    Condition,
    MalformedPolicy,
    PolicyDocument,
    Principal,
    Statement,
    covers_action,
    covers_resource,
    parse_document,
)

# IAM User Guide, "IAM: Add a specific tag to a user with a specific tag".
ADD_TAG = """{ "Version": "2012-10-17", "Statement": [ { "Sid": "ListTagsForAllUsers",
"Effect": "Allow", "Action": [ "iam:ListUserTags", "iam:ListUsers" ], "Resource": "*" },
{ "Sid": "TagManagerWithSpecificDepartment", "Effect": "Allow", "Action": "iam:TagUser",
"Resource": "*", "Condition": {"StringEquals": { "iam:ResourceTag/JobFunction": "Manager",
"aws:RequestTag/Department": [ "Marketing", "Development", "QualityAssurance" ] },
"ForAllValues:StringEquals": {"aws:TagKeys": "Department"} } } ] }"""

# IAM User Guide, "AWS JSON policy elements: NotPrincipal".
NOT_PRINCIPAL = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Deny",
            "NotPrincipal": {
                "AWS": ["arn:aws:iam::444455556666:user/Bob", "arn:aws:iam::444455556666:root"]
            },
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::BUCKETNAME", "arn:aws:s3:::BUCKETNAME/*"],
        }
    ],
}

# IAM User Guide, "AWS JSON policy elements: Principal": a role trust policy for a service.
SERVICE_TRUST = {
    "Version": "2012-10-17",
    "Statement": {
        "Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole",
    },
}


def test_parse_single_string_action_reads_as_a_list_of_one() -> None:
    # given the User Guide's statement whose Action is one string
    statements = parse_document(ADD_TAG)
    # when read, then Action is a list of one, whatever the spelling
    assert statements[1].actions == ("iam:TagUser",), statements[1]
    assert statements[0].actions == ("iam:ListUserTags", "iam:ListUsers"), statements[0]
    assert statements[1].sid == "TagManagerWithSpecificDepartment", statements[1]


def test_parse_condition_with_several_keys_and_values_keeps_each() -> None:
    # given a condition with two operators, one of them holding two keys
    statement = parse_document(ADD_TAG)[1]
    # then every operator, key and value is there, single values as lists of one
    assert statement.conditions == {
        "StringEquals": {
            "iam:ResourceTag/JobFunction": ("Manager",),
            "aws:RequestTag/Department": ("Marketing", "Development", "QualityAssurance"),
        },
        "ForAllValues:StringEquals": {"aws:TagKeys": ("Department",)},
    }, statement.conditions
    assert statement.condition_values("AWS:REQUESTTAG/department") == [
        "Marketing",
        "Development",
        "QualityAssurance",
    ], "condition keys are case-insensitive"


def test_parse_not_principal_keeps_it_apart_from_principal() -> None:
    # given the User Guide's Deny to everyone but Bob and his account
    (statement,) = parse_document(NOT_PRINCIPAL)
    # then the exceptions are NotPrincipal, and no Principal is read into it
    assert statement.not_principals == {
        "AWS": ("arn:aws:iam::444455556666:user/Bob", "arn:aws:iam::444455556666:root")
    }, statement.not_principals
    assert statement.principals == {}, statement.principals
    assert statement.effect == "Deny"
    assert statement.resources == ("arn:aws:s3:::BUCKETNAME", "arn:aws:s3:::BUCKETNAME/*")


@pytest.mark.parametrize(
    ("principal", "expected", "public"),
    [
        ("*", {"*": ("*",)}, True),
        ({"AWS": "*"}, {"AWS": ("*",)}, True),
        ({"AWS": "123456789012"}, {"AWS": ("123456789012",)}, False),
        ({"Service": "ec2.amazonaws.com"}, {"Service": ("ec2.amazonaws.com",)}, False),
        (
            {"AWS": ["arn:aws:iam::123456789012:root"], "Service": ["sns.amazonaws.com"]},
            {"AWS": ("arn:aws:iam::123456789012:root",), "Service": ("sns.amazonaws.com",)},
            False,
        ),
    ],
    ids=["star", "aws-star", "account", "service", "two-kinds"],
)
def test_parse_principal_forms_read_into_one_shape(
    principal: object, expected: dict[str, tuple[str, ...]], public: bool
) -> None:
    raw = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    statement = Statement.parse(raw)
    assert statement.principals == expected, statement.principals
    assert statement.is_public is public, f"{principal!r} public: {statement.is_public}"


def test_parse_statement_given_as_one_object_is_a_list_of_one() -> None:
    (statement,) = parse_document(SERVICE_TRUST)
    assert statement.principals == {"Service": ("ec2.amazonaws.com",)}, statement
    assert statement.resources == (), "a trust policy names no resource"


def test_round_trip_writes_what_aws_accepts_and_reads_back_the_same() -> None:
    # given each documented example
    for raw in (ADD_TAG, NOT_PRINCIPAL, SERVICE_TRUST):
        document = PolicyDocument.parse(raw)
        # when written and read again
        written = document.to_dict()
        again = PolicyDocument.parse(json.dumps(written))
        # then nothing is lost or changed
        assert again == document, f"round trip changed {written}"


def test_to_dict_writes_elements_as_the_reference_spells_them() -> None:
    # given the tag example and the NotPrincipal example, read
    tags = PolicyDocument.parse(ADD_TAG).to_dict()
    deny = PolicyDocument.parse(NOT_PRINCIPAL).to_dict()
    # then lists for Action and Resource, one condition value as a scalar, in element order
    assert tags["Statement"][1] == {
        "Sid": "TagManagerWithSpecificDepartment",
        "Effect": "Allow",
        "Action": ["iam:TagUser"],
        "Resource": ["*"],
        "Condition": {
            "StringEquals": {
                "iam:ResourceTag/JobFunction": "Manager",
                "aws:RequestTag/Department": ["Marketing", "Development", "QualityAssurance"],
            },
            "ForAllValues:StringEquals": {"aws:TagKeys": "Department"},
        },
    }, tags["Statement"][1]
    assert list(deny["Statement"][0]) == ["Effect", "NotPrincipal", "Action", "Resource"]
    assert PolicyDocument.parse({"Statement": []}).to_dict() == {"Statement": []}, (
        "a document without Version is written without one"
    )


def test_declared_statement_renders_as_the_parsed_one() -> None:
    # given a bucket policy statement declared with Principal and Condition objects
    declared = Statement(
        sid="DenyInsecureTransport",
        effect="Deny",
        principals=Principal("*"),
        actions=["s3:*"],
        resources=["arn:aws:s3:::bucket", "arn:aws:s3:::bucket/*"],
        conditions=[Condition("Bool", "aws:SecureTransport", ["false"])],
    )
    # then it is written as AWS documents this policy, and reads back equal
    assert declared.to_dict() == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["s3:*"],
        "Resource": ["arn:aws:s3:::bucket", "arn:aws:s3:::bucket/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert Statement.parse(declared.to_dict()) == declared, "declared and parsed differ"


def test_json_boolean_condition_value_reads_as_the_string_iam_compares() -> None:
    raw = {
        "Effect": "Deny",
        "Action": "s3:*",
        "Condition": {"Bool": {"aws:SecureTransport": False}},
    }
    assert Statement.parse(raw).conditions == {"Bool": {"aws:SecureTransport": ("false",)}}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"Action": "s3:GetObject"}, 'Effect must be "Allow" or "Deny" (found none)'),
        (
            {"Sid": "Typo", "Effect": "Alow", "Action": "s3:GetObject", "Resource": "*"},
            'statement Typo: Effect must be "Allow" or "Deny" (found \'Alow\')',
        ),
        ({"Effect": "Allow", "Resource": "*"}, "needs an Action or NotAction"),
        (
            {"Effect": "Allow", "Action": "s3:GetObject", "NotAction": "s3:PutObject"},
            "give Action or NotAction, not both",
        ),
        ({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": ["x"]}, "Principal must be"),
        ({"Effect": "Allow", "Action": {"s3": "GetObject"}}, "Action must be a string or a list"),
        ({"Effect": "Allow", "Action": "s3:GetObject", "Condition": "yes"}, "Condition must be"),
        ("not json", "not valid JSON"),
        (["a", "list"], "a policy document must be a JSON object"),
        ({"Statement": ["Allow"]}, "a statement must be a JSON object"),
        ({"Version": "2012-10-18", "Statement": []}, "Version must be one of"),
    ],
    ids=[
        "no-effect",
        "effect-typo",
        "no-action",
        "action-and-not-action",
        "principal-list",
        "action-object",
        "condition-string",
        "not-json",
        "not-object",
        "statement-string",
        "unknown-version",
    ],
)
def test_parse_bad_document_raises_malformed_policy_naming_the_element(
    raw: object, message: str
) -> None:
    # given a document AWS would refuse
    document = raw if isinstance(raw, str | list) or "Statement" in raw else {"Statement": [raw]}
    # when read, then one error type says what is wrong
    with pytest.raises(MalformedPolicy) as refused:
        PolicyDocument.parse(document)
    assert message in str(refused.value), str(refused.value)
    assert "\n" not in str(refused.value), "one line"


def test_action_matching_ignores_case_and_expands_wildcards() -> None:
    statement = Statement.parse({"Effect": "Allow", "Action": ["iam:Get*", "s3:?etObject"]})
    assert covers_action(statement, "IAM:getrole"), "action names ignore case"
    assert covers_action(statement, "s3:GetObject") and covers_action(statement, "s3:SetObject")
    assert not covers_action(statement, "s3:GetObjectAcl"), "`?` is exactly one character"
    assert not covers_action(statement, "iam:ListRoles")


def test_not_action_covers_everything_it_does_not_name() -> None:
    # IAM User Guide, "IAM JSON policy elements: NotAction"
    statement = Statement.parse({"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"})
    assert covers_action(statement, "s3:GetObject"), "NotAction covers what it does not name"
    assert not covers_action(statement, "iam:CreateUser")
    assert not statement.grants("s3:GetObject"), "grants reads Action only"


def test_resource_matching_is_case_sensitive_and_not_resource_inverts() -> None:
    listed = Statement.parse(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/models/*"}
    )
    assert covers_resource(listed, "arn:aws:s3:::bucket/models/v1/model.tar.gz")
    assert not covers_resource(listed, "arn:aws:s3:::bucket/Models/v1"), "ARNs are case-sensitive"
    payroll = Statement.parse(
        {
            "Effect": "Deny",
            "Action": "s3:*",
            "NotResource": ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"],
        }
    )
    assert covers_resource(payroll, "arn:aws:s3:::HRBucket/Other")
    assert not covers_resource(payroll, "arn:aws:s3:::HRBucket/Payroll/2024.csv")
    trust = parse_document(SERVICE_TRUST)[0]
    assert covers_resource(trust, "arn:aws:iam::123456789012:role/R"), (
        "a statement without Resource applies to the resource it is attached to"
    )
