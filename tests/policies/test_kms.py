"""KMS policies: rotation, deletion window, key policy grants, the signing key."""

from __future__ import annotations

import pytest

from policies import kms
from tests.policies.fixtures import (
    ROOT,
    admin_statement,
    data_key,
    doc,
    role_arn,
    signing_key,
    signing_statements,
)
from tests.policies.harness import only_message, run_policy, statuses_of

DATA = "KMS key `mlops-prod-data`: "
SIGNING = "KMS key `mlops-prod-signing`: "


@pytest.mark.parametrize("policy", kms.POLICIES, ids=lambda p: p.name)
def test_kms_policy_compliant_keys_pass(policy):
    # Given the data CMK and the signing key as Keys declares them
    # When each KMS policy runs
    messages = run_policy(policy, data_key(), signing_key())
    # Then nothing is reported
    assert messages == [], f"{policy.name} must pass compliant keys: {messages}"


@pytest.mark.parametrize(
    ("props", "fragments"),
    [
        (
            {"enableKeyRotation": False},
            ["rotation must be enabled", "found false", "enable_key_rotation=True"],
        ),
        ({"enableKeyRotation": None}, ["rotation must be enabled", "found not set"]),
        (
            {"rotationPeriodInDays": 730.0},
            ["at least every 365 days", "found rotation_period_in_days 730"],
        ),
    ],
    ids=["off", "unset", "too-slow"],
)
def test_rotation_policy_symmetric_key_not_rotating_reports_value(props, fragments):
    # Given a symmetric key that does not rotate yearly
    # When the rotation policy runs
    messages = run_policy(kms.ROTATION_ENABLED, data_key(**props))
    # Then the message gives the observed value and the fix
    only_message(messages, DATA, *fragments)


def test_rotation_policy_signing_key_not_applicable():
    # Given an asymmetric signing key (which AWS cannot rotate)
    # When the rotation policy runs
    statuses = statuses_of(kms.ROTATION_ENABLED, signing_key())
    # Then it is not judged
    assert statuses == {"mlops-prod-signing": "not-applicable"}, statuses


def test_deletion_window_policy_short_window_reports_days():
    # Given a key with a 7-day deletion window
    # When the deletion window policy runs
    messages = run_policy(kms.DELETION_WINDOW, data_key(deletionWindowInDays=7.0))
    # Then it reports the window and the minimum
    only_message(messages, DATA, "at least 30 days", "found 7 days", "deletion_window_in_days=30")


def test_wildcard_grant_policy_kms_star_to_role_reports_principal():
    # Given a key policy granting kms:* to a workload role
    policy = doc(
        admin_statement(),
        {
            "Sid": "TooMuch",
            "Effect": "Allow",
            "Principal": {"AWS": role_arn("r")},
            "Action": "kms:*",
            "Resource": "*",
        },
    )
    # When the wildcard grant policy runs
    messages = run_policy(kms.NO_WILDCARD_GRANTS, data_key(policy=policy))
    # Then the statement, the principal and the wildcard are named
    only_message(messages, DATA, "statement TooMuch grants kms:*", role_arn("r"), "exact kms:")


def test_wildcard_grant_policy_kms_star_to_root_passes():
    # Given AWS's default-style statement: kms:* for the account root only
    policy = doc(
        {
            "Sid": "Root",
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    # When the wildcard grant policy runs
    messages = run_policy(kms.NO_WILDCARD_GRANTS, data_key(policy=policy))
    # Then the root may hold wildcard key rights
    assert messages == [], f"kms:* for the account root is allowed: {messages}"


def test_public_key_policy_everyone_allowed_reports_statement():
    # Given a key policy that lets everyone decrypt
    policy = doc(
        admin_statement(),
        {
            "Sid": "Open",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "kms:Decrypt",
            "Resource": "*",
        },
    )
    # When the public access policy runs
    messages = run_policy(kms.NOT_PUBLIC, data_key(policy=policy))
    # Then it names the statement and the condition to add
    only_message(messages, DATA, "statement Open must not allow everyone", "kms:CallerAccount")


@pytest.mark.parametrize(
    ("props", "fragments"),
    [
        ({"customerMasterKeySpec": "RSA_2048"}, ["spec must be one of", "found RSA_2048"]),
        (
            {"enableKeyRotation": True},
            ["asymmetric keys cannot rotate", "enable_key_rotation=False"],
        ),
    ],
    ids=["weak-spec", "rotation-on"],
)
def test_signing_spec_policy_bad_spec_reports_value(props, fragments):
    # Given a signing key with an unapproved spec or rotation switched on
    # When the signing spec policy runs
    messages = run_policy(kms.SIGNING_KEY_SPEC, signing_key(**props))
    # Then the setting is named with its fix
    only_message(messages, SIGNING, *fragments)


@pytest.mark.parametrize(
    ("signers", "fragments"),
    [
        ([role_arn("release"), role_arn("deploy")], ["at most 1 principal(s) may sign"]),
        ([ROOT], ["not the account root"]),
        (["*"], ["must not be granted to everyone"]),
    ],
    ids=["two-signers", "root", "everyone"],
)
def test_signer_policy_extra_signers_reported(signers, fragments):
    # Given a signing key policy letting too many principals call kms:Sign
    key = signing_key(policy=doc(*signing_statements(signers)))
    # When the signer policy runs
    messages = run_policy(kms.SIGN_RESTRICTED, key)
    # Then the violation names who may sign
    assert any(all(f in m for f in fragments) for m in messages), messages
    assert all(m.startswith(SIGNING) for m in messages), messages


def test_signer_policy_records_signers_as_evidence():
    # Given the compliant signing key
    from tests.policies.harness import evidence_of

    # When the signer policy runs offline
    evidence = evidence_of(kms.SIGN_RESTRICTED, signing_key())
    # Then the audit evidence lists exactly the release role as signer
    assert evidence["mlops-prod-signing"]["signers"] == [role_arn("mlops-prod-gh-release")], (
        evidence
    )
