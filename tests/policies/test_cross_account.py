"""`policies.cross_account`, each rule attacked with one change on synthetic resources:
foreign principals and keys, condition values, the configured organisation. (The mutation
suite attacks the same rules on the rendered stacks.)"""

from __future__ import annotations

import pytest

from policies import cross_account
from tests.policies.fixtures import (
    ACCOUNT,
    KEY_ARN,
    Res,
    allow,
    data_key,
    doc,
)
from tests.policies.harness import only_message, run_policy, statuses_of

FOREIGN = "999988887777"


def _key_with(statement: dict) -> Res:
    policy = doc(
        {
            "Sid": "OwnRoot",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": ["kms:DescribeKey"],
            "Resource": ["*"],
        },
        statement,
    )
    return data_key(policy=policy)


def test_key_policy_own_principals_pass():
    # Given a key policy naming only this account's root and roles
    # When the own-account rule runs over the stack
    messages = run_policy(cross_account.ADMIT_OWN_ACCOUNT_ONLY, data_key())
    # Then nothing is reported
    assert messages == [], messages


def test_key_policy_foreign_root_with_kms_star_fails():
    # Given kms:* granted to another account's root (a 12-digit root, but not ours)
    statement = allow(
        "Foreign", ["kms:*"], ["*"], Principal={"AWS": f"arn:aws:iam::{FOREIGN}:root"}
    )
    # When the own-account rule runs
    messages = run_policy(cross_account.ADMIT_OWN_ACCOUNT_ONLY, _key_with(statement))
    # Then the foreign root is named
    only_message(messages, "statement Foreign", f"arn:aws:iam::{FOREIGN}:root", ACCOUNT)


@pytest.mark.parametrize(
    ("condition", "admitted"),
    [
        ({"StringLike": {"aws:PrincipalAccount": "*"}}, True),
        ({"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}, False),
        ({"StringLike": {"kms:CallerAccount": "*"}}, True),
        ({"StringEquals": {"kms:CallerAccount": ACCOUNT}}, False),
        ({"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}}, True),
    ],
)
def test_key_policy_public_statement_judged_by_condition_value(condition, admitted):
    # Given Principal * scoped by a condition, by value
    statement = allow("Public", ["kms:Decrypt"], ["*"], Principal="*", Condition=condition)
    # When the own-account rule puts it to an outsider's request
    messages = run_policy(cross_account.ADMIT_OWN_ACCOUNT_ONLY, _key_with(statement))
    # Then only a condition an outsider cannot meet keeps it out
    assert bool(messages) is admitted, (condition, messages)


def test_service_statement_without_source_condition_fails():
    # Given CloudTrail may use the key with no aws:SourceArn / aws:SourceAccount
    statement = allow(
        "Trail", ["kms:GenerateDataKey"], ["*"], Principal={"Service": "cloudtrail.amazonaws.com"}
    )
    # When the own-account rule runs
    messages = run_policy(cross_account.ADMIT_OWN_ACCOUNT_ONLY, _key_with(statement))
    # Then the service acting for any account is reported
    only_message(messages, "cloudtrail.amazonaws.com for any account")


def test_topic_encrypted_with_foreign_key_fails():
    # Given a stack key and a topic encrypted with another account's key
    foreign_key = f"arn:aws:kms:eu-west-1:{FOREIGN}:key/abc"
    topic = Res("aws:sns/topic:Topic", "t", {"kmsMasterKeyId": foreign_key})
    # When the key-account rule runs over the stack
    messages = run_policy(cross_account.KEYS_OF_OWN_ACCOUNT, data_key(), topic)
    # Then the foreign key is named
    only_message(messages, "`t`", foreign_key, ACCOUNT)


def test_topic_encrypted_with_stack_key_passes():
    topic = Res("aws:sns/topic:Topic", "t", {"kmsMasterKeyId": KEY_ARN})
    assert run_policy(cross_account.KEYS_OF_OWN_ACCOUNT, data_key(), topic) == []


@pytest.mark.parametrize(
    ("config", "admitted"),
    [
        ({"organizationId": "o-ours12345"}, False),
        ({"organizationId": "o-other6789"}, True),
        ({}, True),
    ],
)
def test_org_condition_scopes_only_to_the_configured_organisation(config, admitted):
    # Given Principal * limited to the members of organisation o-ours12345
    statement = allow(
        "Org",
        ["kms:Decrypt"],
        ["*"],
        Principal="*",
        Condition={"StringEquals": {"aws:PrincipalOrgID": "o-ours12345"}},
    )
    # When the own-account rule runs with (or without) the stack's organisation configured
    messages = run_policy(cross_account.ADMIT_OWN_ACCOUNT_ONLY, _key_with(statement), config=config)
    # Then the statement is inside only when that organisation is the stack's
    assert bool(messages) is admitted, (config, messages)


def test_own_account_rule_without_any_known_arn_is_not_applicable():
    # Given a key whose ARN is not known yet (a first preview) and no accountIds configured
    key = data_key()
    unknown = Res(key.type, key.name, key.props, id=key.id)
    # When the own-account rule runs
    statuses = statuses_of(cross_account.ADMIT_OWN_ACCOUNT_ONLY, unknown)
    # Then it does not guess the account (every principal would look foreign)
    assert statuses == {"mlops-prod-data": "not-applicable"}, statuses
