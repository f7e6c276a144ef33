"""`PolicyDocument.to_json`: the text `pulumi.Output.json_dumps` would write, and an ARN's
secrecy and dependency carried into the policy (else Pulumi could write a policy before the
bucket it names exists, or show a secret ARN in plain text)."""

from __future__ import annotations

import pulumi

from common.iam_document import Condition, Principal
from infra.policy_document import PolicyDocument, Statement
from tests.infra.helpers import made_by, resolved

BUCKET = object()  # stands for the resource an ARN comes from
ROLE = object()


def _document(bucket_arn: pulumi.Input[str], role_arn: pulumi.Input[str]) -> PolicyDocument:
    return PolicyDocument(
        [
            Statement(
                sid="RoleReads",
                actions=["s3:GetObject", "s3:GetObject"],
                resources=[bucket_arn, "arn:aws:s3:::logs/*"],
                principals=Principal("AWS", [role_arn]),
                conditions=[Condition("Bool", "aws:SecureTransport", ["true"])],
            )
        ]
    )


EXPECTED = (
    '{"Version": "2012-10-17", "Statement": [{"Sid": "RoleReads", "Effect": "Allow", '
    '"Principal": {"AWS": ["arn:aws:iam::123456789012:role/r"]}, "Action": ["s3:GetObject"], '
    '"Resource": ["arn:aws:s3:::data/*", "arn:aws:s3:::logs/*"], '
    '"Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}'
)


def test_resource_arns_resolve_into_the_text_and_stay_dependencies() -> None:
    def build() -> pulumi.Output[str]:
        role = made_by(ROLE, "arn:aws:iam::123456789012:role/r")
        return _document(made_by(BUCKET, "arn:aws:s3:::data/*"), role).to_json()

    assert resolved(build) == (EXPECTED, True, False, {BUCKET, ROLE})


def test_a_secret_arn_makes_the_policy_secret() -> None:
    def build() -> pulumi.Output[str]:
        secret = pulumi.Output.secret("arn:aws:s3:::data/*")
        return _document(secret, "arn:aws:iam::123456789012:role/r").to_json()

    assert resolved(build) == (EXPECTED, True, True, set())


def test_plain_document_is_known_text_with_no_dependency() -> None:
    document = _document("arn:aws:s3:::data/*", "arn:aws:iam::123456789012:role/r")
    assert resolved(document.to_json) == (EXPECTED, True, False, set())


def test_same_as_the_sdk_json_dumps_when_an_arn_is_unknown() -> None:
    def document() -> PolicyDocument:
        unknown = made_by(BUCKET, None, known=False)
        return _document(unknown, "arn:aws:iam::123456789012:role/r")

    ours = resolved(lambda: document().to_json())
    assert ours[1:] == (False, False, {BUCKET}), ours
    assert ours[1:] == resolved(lambda: pulumi.Output.json_dumps(document().to_dict()))[1:]
