"""`policies.iam_escalation`, each path attacked with one change on synthetic resources:
passing any role, writing its own policy, managed policies, access keys, a path split over
two policies. (The mutation suite attacks the same rules on the rendered stacks.)"""

from __future__ import annotations

from policies import iam_escalation
from tests.policies.fixtures import (
    ACCOUNT,
    Res,
    allow,
    doc,
    role_arn,
    role_policy,
)
from tests.policies.harness import only_message, run_policy


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
