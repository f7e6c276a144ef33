"""The rules issue 15 added, each attacked with one change on synthetic resources: foreign
principals and keys, condition values, privilege escalation, wildcard ARNs, managed
policies and users, one trusted repository, signed serving. (The mutation suite attacks
the same rules on the rendered stacks.)"""

from __future__ import annotations

import pytest

from policies import cross_account, iam, iam_escalation, sagemaker, trust
from policies.iam import matches_any_resource
from tests.policies.fixtures import (
    ACCOUNT,
    KEY_ARN,
    Res,
    allow,
    data_key,
    doc,
    github_role,
    role_arn,
    role_policy,
    sagemaker_model,
    serving_neighbours,
)
from tests.policies.harness import only_message, run_policy, statuses_of

FOREIGN = "999988887777"
KMS_FORMAT = "arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}"
OBJECT_FORMAT = "arn:${Partition}:s3:::${BucketName}/${ObjectName}"


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


def test_escalation_put_own_role_policy_fails():
    # Given a role that may write its own inline policy
    document = role_policy(
        allow("SelfEdit", ["iam:PutRolePolicy"], [role_arn("mlops-prod-training")])
    )
    # When the escalation rule runs
    messages = run_policy(iam_escalation.NO_PRIVILEGE_ESCALATION, document)
    # Then cloudsplaining's method is named
    only_message(messages, "must not let the role raise its own rights", "PutRolePolicy")


def test_escalation_pinned_pass_role_passes():
    # Given PassRole of one named role to SageMaker only, and training jobs (the build role)
    pinned = {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    document = role_policy(
        allow("Pass", ["iam:PassRole"], [role_arn("mlops-prod-training")], Condition=pinned),
        allow("Train", ["sagemaker:CreateTrainingJob"], ["arn:aws:sagemaker:*"]),
    )
    # When the escalation rule runs
    # Then nothing is reported
    assert run_policy(iam_escalation.NO_PRIVILEGE_ESCALATION, document) == []


def test_escalation_pass_any_role_with_training_jobs_fails():
    # Given PassRole on role/* (pinned to SageMaker) next to CreateTrainingJob
    pinned = {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    document = role_policy(
        allow("Pass", ["iam:PassRole"], [f"arn:aws:iam::{ACCOUNT}:role/*"], Condition=pinned),
        allow("Train", ["sagemaker:CreateTrainingJob"], ["arn:aws:sagemaker:*"]),
    )
    # When the escalation rule runs
    messages = run_policy(iam_escalation.NO_PRIVILEGE_ESCALATION, document)
    # Then the completed path is named
    only_message(
        messages, "must pass only named roles", "PassExistingRoleToNewSageMakerTrainingJob"
    )


def test_escalation_pass_role_to_any_service_fails():
    # Given PassRole of one named role, with no iam:PassedToService
    document = role_policy(allow("Pass", ["iam:PassRole"], [role_arn("mlops-prod-training")]))
    # When the escalation rule runs
    messages = run_policy(iam_escalation.NO_PRIVILEGE_ESCALATION, document)
    # Then the missing service pin is reported
    only_message(messages, "must limit iam:PassRole to the service")


def test_managed_policy_attachment_fails():
    # Given AmazonSageMakerFullAccess attached (not one of the three admin policies)
    attachment = Res(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "attach",
        {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"},
    )
    # When the managed-policy rule runs
    messages = run_policy(iam_escalation.ONLY_STACK_POLICIES, attachment)
    # Then it is named
    only_message(messages, "AmazonSageMakerFullAccess must not be attached")


def test_access_key_fails():
    key = Res("aws:iam/accessKey:AccessKey", "ci-key", {"user": "ci"})
    only_message(run_policy(iam_escalation.NO_USERS, key), "no IAM users", "AccessKey")


def test_role_trusting_another_repository_fails():
    # Given three roles of one repository and one that trusts a fork
    roles = [github_role(name=f"mlops-prod-gh-{n}") for n in ("a", "b", "c")]
    fork = {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:acme/fork:environment:prod",
        }
    }
    stray = github_role(fork, name="mlops-prod-gh-d")
    # When the one-repository rule runs over the stack
    messages = run_policy(trust.ROLES_TRUST_ONE_REPOSITORY, *roles, stray)
    # Then only the stray role is reported, naming the fork
    only_message(messages, "`mlops-prod-gh-d`", "acme/fork")


def test_model_without_signature_enforcement_fails():
    # Given a model whose container may serve unsigned models
    model = sagemaker_model()
    container = dict(model.props["primaryContainer"])
    container["environment"] = {"MLOPS_REQUIRE_SIGNATURE": "false"}
    # When the signature rule runs
    messages = run_policy(
        sagemaker.MODEL_VERIFIES_SIGNATURES, model.with_props(primaryContainer=container)
    )
    # Then both the flag and the missing key are reported
    assert len(messages) == 2, messages
    assert "MLOPS_REQUIRE_SIGNATURE=true" in messages[0], messages


def test_model_image_from_another_account_fails():
    # Given a model running another account's image
    image = f"{FOREIGN}.dkr.ecr.eu-west-1.amazonaws.com/server:latest"
    model = sagemaker_model(primaryContainer={"image": image})
    # When the stack-sources rule runs over the serving resources
    messages = run_policy(
        sagemaker.SERVING_USES_STACK_RESOURCES, model, *serving_neighbours(), environment="prod"
    )
    # Then the image is reported
    only_message(messages, "image must come from the stack's ECR repository", image)


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


def test_escalation_path_split_over_two_policies_of_one_role_fails():
    # Given a role whose two inline policies each hold half of a CloudFormation change-set path
    create = role_policy(
        allow("Create", ["cloudformation:CreateChangeSet"], ["arn:aws:cloudformation:*"]),
        name="mlops-prod-a",
    )
    execute = Res(
        "aws:iam/rolePolicy:RolePolicy",
        "mlops-prod-b",
        {
            "role": "mlops-prod-a-role",
            "policy": doc(
                allow("Run", ["cloudformation:ExecuteChangeSet"], ["arn:aws:cloudformation:*"])
            ),
        },
    )
    # When the escalation rule runs over the stack
    messages = run_policy(iam_escalation.NO_PRIVILEGE_ESCALATION, create, execute)
    # Then the path is found across the two (reported on each half)
    assert len(messages) == 2, messages
    assert all("ExecuteCloudFormationChangeSet" in m for m in messages), messages


def test_own_account_rule_without_any_known_arn_is_not_applicable():
    # Given a key whose ARN is not known yet (a first preview) and no accountIds configured
    key = data_key()
    unknown = Res(key.type, key.name, key.props, id=key.id)
    # When the own-account rule runs
    statuses = statuses_of(cross_account.ADMIT_OWN_ACCOUNT_ONLY, unknown)
    # Then it does not guess the account (every principal would look foreign)
    assert statuses == {"mlops-prod-data": "not-applicable"}, statuses
