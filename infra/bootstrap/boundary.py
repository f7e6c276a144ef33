"""The permissions boundary: the most the infra role, and every role it creates, can do.

A boundary grants nothing; it is the ceiling an identity policy cannot exceed. Its Allow
lists, action by action, what the platform's roles use at run time and what `pulumi up`
needs to manage the main program's resource types; `tests/infra/test_bootstrap.py` checks
that every action the rendered main stacks grant fits under it. Its Denies hold whatever
the identity policies say: no IAM users or access keys, no change to the boundary or to
the infra role itself, no role created or re-bounded without this boundary, and no
organization or account actions.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from common.iam_document import Condition
from common.iam_lint import actions_with_resource_scope
from infra.config import PROJECT
from infra.contracts import TRACKING_ACTIONS
from infra.policy_document import PolicyDocument, Statement

# Service -> actions, as the IAM service authorization reference spells them.
PLATFORM_ACTIONS: dict[str, tuple[str, ...]] = {
    "application-autoscaling": (
        "DeleteScalingPolicy", "DeregisterScalableTarget", "DescribeScalableTargets",
        "DescribeScalingPolicies", "PutScalingPolicy", "RegisterScalableTarget",
    ),
    "chatbot": (
        "CreateSlackChannelConfiguration", "DeleteSlackChannelConfiguration",
        "DescribeSlackChannelConfigurations", "ListTagsForResource", "TagResource",
        "UntagResource", "UpdateSlackChannelConfiguration",
    ),
    "cloudtrail": (
        "AddTags", "CreateTrail", "DeleteTrail", "DescribeTrails", "GetEventSelectors", "GetTrail",
        "GetTrailStatus", "ListTags", "PutEventSelectors", "RemoveTags", "StartLogging",
        "StopLogging", "UpdateTrail",
    ),
    "cloudwatch": (
        "DeleteAlarms", "DeleteDashboards", "DescribeAlarmHistory", "DescribeAlarms",
        "GetDashboard", "GetMetricWidgetImage", "ListTagsForResource", "PutDashboard",
        "PutMetricAlarm", "PutMetricData", "TagResource", "UntagResource",
    ),
    "ec2": (
        "AssociateRouteTable", "AuthorizeSecurityGroupEgress", "AuthorizeSecurityGroupIngress",
        "CreateFlowLogs", "CreateNetworkInterface", "CreateNetworkInterfacePermission",
        "CreateRouteTable", "CreateSecurityGroup", "CreateSubnet", "CreateTags",
        "CreateVpc", "CreateVpcEndpoint", "DeleteFlowLogs", "DeleteNetworkInterface",
        "DeleteNetworkInterfacePermission", "DeleteRouteTable", "DeleteSecurityGroup",
        "DeleteSubnet", "DeleteTags", "DeleteVpc", "DeleteVpcEndpoints",
        "DescribeAvailabilityZones", "DescribeDhcpOptions", "DescribeFlowLogs",
        "DescribeNetworkInterfaces", "DescribePrefixLists", "DescribeRouteTables",
        "DescribeSecurityGroupRules", "DescribeSecurityGroups", "DescribeSubnets",
        "DescribeVpcAttribute", "DescribeVpcEndpoints", "DescribeVpcs",
        "DisassociateRouteTable", "ModifyVpcAttribute", "ModifyVpcEndpoint",
        "RevokeSecurityGroupEgress", "RevokeSecurityGroupIngress",
    ),
    "ecr": (
        "BatchCheckLayerAvailability", "BatchGetImage", "CompleteLayerUpload",
        "CreateRepository", "DeleteLifecyclePolicy", "DeleteRepository", "DescribeImages",
        "DescribeRepositories", "GetAuthorizationToken", "GetDownloadUrlForLayer",
        "GetLifecyclePolicy", "InitiateLayerUpload", "ListTagsForResource", "PutImage",
        "PutImageScanningConfiguration", "PutImageTagMutability", "PutLifecyclePolicy",
        "TagResource", "UntagResource", "UploadLayerPart",
    ),
    "iam": (
        "CreateRole", "CreateServiceLinkedRole", "DeleteRole", "DeleteRolePolicy",
        "GetOpenIDConnectProvider", "GetPolicy", "GetPolicyVersion", "GetRole",
        "GetRolePolicy", "ListAttachedRolePolicies", "ListInstanceProfilesForRole",
        "ListOpenIDConnectProviders", "ListRolePolicies", "PassRole",
        "PutRolePermissionsBoundary", "PutRolePolicy", "TagRole", "UntagRole",
        "UpdateAssumeRolePolicy", "UpdateRole", "UpdateRoleDescription",
    ),
    "kms": (
        "CreateAlias", "CreateGrant", "CreateKey", "Decrypt", "DeleteAlias", "DescribeKey",
        "DisableKeyRotation", "EnableKeyRotation", "Encrypt", "GenerateDataKey",
        "GetKeyPolicy", "GetKeyRotationStatus", "GetPublicKey", "ListAliases",
        "ListResourceTags", "PutKeyPolicy", "ReEncryptFrom", "ReEncryptTo",
        "ScheduleKeyDeletion", "Sign", "TagResource", "UntagResource", "UpdateAlias",
        "UpdateKeyDescription", "Verify",
    ),
    "logs": (
        "AssociateKmsKey", "CreateLogGroup", "CreateLogStream", "DeleteLogGroup",
        "DeleteMetricFilter", "DeleteRetentionPolicy", "DescribeLogGroups",
        "DescribeLogStreams", "DescribeMetricFilters", "DisassociateKmsKey", "FilterLogEvents",
        "GetLogEvents", "ListTagsForResource", "PutLogEvents", "PutMetricFilter",
        "PutRetentionPolicy", "TagResource", "UntagResource",
    ),
    "s3": (
        "AbortMultipartUpload", "CreateBucket", "DeleteBucket", "DeleteBucketPolicy",
        "DeleteObject", "GetAccelerateConfiguration", "GetBucketAcl", "GetBucketCORS",
        "GetBucketLocation", "GetBucketLogging", "GetBucketObjectLockConfiguration",
        "GetBucketOwnershipControls", "GetBucketPolicy", "GetBucketPublicAccessBlock",
        "GetBucketRequestPayment", "GetBucketTagging", "GetBucketVersioning",
        "GetBucketWebsite", "GetEncryptionConfiguration", "GetLifecycleConfiguration",
        "GetObject", "GetObjectVersion", "GetReplicationConfiguration", "ListBucket",
        "PutBucketLogging", "PutBucketObjectLockConfiguration", "PutBucketOwnershipControls",
        "PutBucketPolicy", "PutBucketPublicAccessBlock", "PutBucketTagging",
        "PutBucketVersioning", "PutEncryptionConfiguration", "PutLifecycleConfiguration",
        "PutObject",
    ),
    "sagemaker": (
        "AddTags", "CreateEndpoint", "CreateEndpointConfig", "CreateMlflowTrackingServer",
        "CreateModel", "CreateModelPackage", "CreateModelPackageGroup", "CreateProcessingJob",
        "CreateTrainingJob",
        "DeleteEndpoint", "DeleteEndpointConfig", "DeleteMlflowTrackingServer", "DeleteModel",
        "DeleteModelPackageGroup", "DeleteTags", "DescribeEndpoint", "DescribeEndpointConfig",
        "DescribeMlflowTrackingServer", "DescribeModel", "DescribeModelPackage",
        "DescribeModelPackageGroup", "DescribeProcessingJob", "DescribeTrainingJob",
        "ListModelPackages", "ListTags", "StopProcessingJob", "StopTrainingJob", "UpdateEndpoint",
        "UpdateEndpointWeightsAndCapacities",
        "UpdateMlflowTrackingServer", "UpdateModelPackage",
    ),
    # what `mlops train` does on the stack's MLflow tracking server (ml/tracking/runs.py)
    "sagemaker-mlflow": tuple(action.split(":", 1)[1] for action in TRACKING_ACTIONS),
    "sns": (
        "CreateTopic", "DeleteTopic", "GetSubscriptionAttributes", "GetTopicAttributes",
        "ListSubscriptionsByTopic", "ListTagsForResource", "SetSubscriptionAttributes",
        "SetTopicAttributes", "Subscribe", "TagResource", "Unsubscribe", "UntagResource",
    ),
}  # fmt: skip
RELEASE_DUTIES = (
    # pushing the serving image is gh-build's (image.yml), never the infra role's
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
    "kms:Sign",
    "sagemaker:CreateModelPackage",
    "sagemaker:CreateProcessingJob",  # the drift monitor's (`mlops drift --on sagemaker`)
    "sagemaker:CreateTrainingJob",
    "sagemaker:StopProcessingJob",
    "sagemaker:StopTrainingJob",
    "sagemaker:UpdateModelPackage",
    *TRACKING_ACTIONS,  # logging training runs is the launchers' duty
)
"""Within the boundary for the duty roles the infra role creates; not the infra role's own."""
# Who could otherwise mint long-lived credentials or a console login.
IAM_USER_ACTIONS = (
    "iam:AttachUserPolicy",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:CreateServiceSpecificCredential",
    "iam:CreateUser",
    "iam:PutUserPolicy",
    "iam:UpdateAccessKey",
    "iam:UpdateLoginProfile",
    "iam:UploadSSHPublicKey",
)
POLICY_CHANGE_ACTIONS = (
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
)
# The infra role may not rewrite who assumes it, what it may do, or its boundary.
SELF_CHANGE_ACTIONS = (
    "iam:AttachRolePolicy",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:UpdateAssumeRolePolicy",
)
BOUNDED_ROLE_ACTIONS = ("iam:CreateRole", "iam:PutRolePermissionsBoundary")
NO_WILDCARD_REASON = "these actions have no resource-level permissions"
ARN_REGIONS: dict[str, tuple[str | None, ...]] = {"chatbot": ("",), "cloudwatch": (None, "")}
"""Services with regionless ARNs: Chatbot configurations (`arn:aws:chatbot::<account>:...`)
and CloudWatch dashboards (`arn:aws:cloudwatch::<account>:dashboard/...`); None stands for
the stack's region (CloudWatch alarms are regional)."""


def platform_actions() -> list[str]:
    return sorted(
        f"{service}:{a}" for service, actions in PLATFORM_ACTIONS.items() for a in actions
    )


def boundary_document(
    partition: pulumi.Input[str],
    region: str,
    account_id: pulumi.Input[str],
    boundary_arn: pulumi.Input[str],
    infra_role_arn: pulumi.Input[str],
) -> PolicyDocument:
    """The boundary: this account's resources only, the platform's actions only."""
    actions = platform_actions()
    scoped = [a for a in actions if actions_with_resource_scope(a)]
    unscoped = [a for a in actions if a not in scoped]
    services = sorted({a.split(":")[0] for a in scoped} - {"s3", "iam"})
    account_resources: Sequence[pulumi.Input[str]] = [
        pulumi.Output.concat(
            "arn:", partition, ":", service, ":", region if where is None else where, ":",
            account_id, ":*",
        )
        for service in services
        for where in ARN_REGIONS.get(service, (None,))
    ]  # fmt: skip
    return PolicyDocument(
        [
            Statement(
                sid="PlatformActionsInThisAccount",
                actions=scoped,
                resources=[
                    *account_resources,
                    pulumi.Output.concat("arn:", partition, ":iam::", account_id, ":*"),
                    # S3 ARNs carry no account: the project's name prefix scopes them (every
                    # bucket of the main stacks and the state bucket are `mlops-...`).
                    pulumi.Output.concat("arn:", partition, ":s3:::", PROJECT, "-*"),
                ],
            ),
            Statement(
                sid="PlatformActionsWithoutResourceScope",
                actions=unscoped,
                resources=["*"],
                wildcard_resource_reason=NO_WILDCARD_REASON,
            ),
            Statement(
                sid="DenyIamUsersAndKeys", effect="Deny", actions=IAM_USER_ACTIONS, resources=["*"]
            ),
            Statement(
                sid="DenyChangingTheBoundary",
                effect="Deny",
                actions=POLICY_CHANGE_ACTIONS,
                resources=[boundary_arn],
            ),
            Statement(
                sid="DenyRemovingAnyBoundary",
                effect="Deny",
                actions=["iam:DeleteRolePermissionsBoundary"],
                resources=["*"],
            ),
            Statement(
                sid="DenyChangingTheInfraRole",
                effect="Deny",
                actions=SELF_CHANGE_ACTIONS,
                resources=[infra_role_arn],
            ),
            Statement(
                sid="DenyRolesWithoutThisBoundary",
                effect="Deny",
                actions=BOUNDED_ROLE_ACTIONS,
                resources=["*"],
                conditions=[
                    Condition("StringNotEquals", "iam:PermissionsBoundary", [boundary_arn])
                ],
            ),
            Statement(
                sid="DenyOrganizationAndAccountActions",
                effect="Deny",
                actions=["organizations:*", "account:*"],
                resources=["*"],
            ),
        ]
    )
