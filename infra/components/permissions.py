"""Least-privilege permissions for every role, attached as inline policies.

Each role may touch only its own prefixes, keys and named resources. `*` resources
appear only for actions that IAM cannot scope (each says why in its statement).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.arns import Arns, s3_bucket, s3_objects
from infra.components.keys import DATA_READ_ACTIONS, DATA_USE_ACTIONS, SIGN_ACTIONS, VERIFY_ACTIONS
from infra.policy_document import Condition, PolicyDocument, Statement

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
ENDPOINT_LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
METRIC_NAMESPACES = ["/aws/sagemaker/TrainingJobs", "/aws/sagemaker/Endpoints", "mlops"]
ECR_PULL = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
ECR_LOGIN_REASON = "ecr:GetAuthorizationToken is account-wide; IAM has no resource for it"
VPC_ENI_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
)
VPC_DESCRIBE_ACTIONS = (
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
)


@dataclass(frozen=True)
class PermissionsArgs:
    arns: Arns
    prefix: str
    """Resource name prefix (`mlops-<env>`) that scopes SageMaker and IAM ARNs."""
    data_key_arn: pulumi.Input[str]
    signing_key_arn: pulumi.Input[str]
    data_bucket: pulumi.Input[str]
    artifact_bucket: pulumi.Input[str]
    capture_bucket: pulumi.Input[str]
    log_bucket: pulumi.Input[str]
    ecr_repository_arn: pulumi.Input[str]
    training_role: aws.iam.Role
    inference_role: aws.iam.Role
    auditor_role: aws.iam.Role
    plan_role: aws.iam.Role
    train_role: aws.iam.Role
    release_role: aws.iam.Role
    deploy_role: aws.iam.Role
    monitor_role: aws.iam.Role
    vpc_enabled: bool


class Permissions(pulumi.ComponentResource):
    """One inline policy per role; `documents` keeps them for tests and the IAM linter."""

    def __init__(
        self, name: str, args: PermissionsArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("mlops:identity:Permissions", name, None, opts)
        self._args = args
        b = _Buckets(args)
        self.documents: dict[str, PolicyDocument] = {
            "training": _training(args, b),
            "inference": _inference(args, b),
            "auditor": _auditor(args, b),
            "plan": _plan(args, b),
            "train": _train(args, b),
            "release": _release(args, b),
            "deploy": _deploy(args, b),
            "monitor": _monitor(args, b),
        }
        roles = {
            "training": args.training_role,
            "inference": args.inference_role,
            "auditor": args.auditor_role,
            "plan": args.plan_role,
            "train": args.train_role,
            "release": args.release_role,
            "deploy": args.deploy_role,
            "monitor": args.monitor_role,
        }
        for purpose, document in self.documents.items():
            aws.iam.RolePolicy(
                f"{name}-{purpose}",
                role=roles[purpose].name,
                policy=document.to_json(),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})


class _Buckets:
    def __init__(self, args: PermissionsArgs):
        p = args.arns.partition
        self.data = s3_bucket(p, args.data_bucket)
        self.artifacts = s3_bucket(p, args.artifact_bucket)
        self.capture = s3_bucket(p, args.capture_bucket)
        self.logs = s3_bucket(p, args.log_bucket)
        self.datasets = s3_objects(p, args.data_bucket, "datasets/")
        self.training_output = s3_objects(p, args.artifact_bucket, "training-output/")
        self.checkpoints = s3_objects(p, args.artifact_bucket, "checkpoints/")
        self.models = s3_objects(p, args.artifact_bucket, "models/")
        self.signatures = s3_objects(p, args.artifact_bucket, "signatures/")
        self.all_artifacts = s3_objects(p, args.artifact_bucket)
        self.all_capture = s3_objects(p, args.capture_bucket)


def _kms_use(sid: str, key: pulumi.Input[str]) -> Statement:
    return Statement(sid=sid, actions=DATA_USE_ACTIONS, resources=[key])


def _ecr_pull(args: PermissionsArgs) -> list[Statement]:
    return [
        Statement(sid="PullServingImage", actions=ECR_PULL, resources=[args.ecr_repository_arn]),
        Statement(
            sid="EcrLogin",
            actions=["ecr:GetAuthorizationToken"],
            resources=["*"],
            wildcard_resource_reason=ECR_LOGIN_REASON,
        ),
    ]


def _metrics() -> Statement:
    return Statement(
        sid="PublishOwnMetrics",
        actions=["cloudwatch:PutMetricData"],
        resources=["*"],
        conditions=[Condition("StringEquals", "cloudwatch:namespace", METRIC_NAMESPACES)],
        wildcard_resource_reason="PutMetricData has no resource type; scoped by namespace",
    )


def _vpc_access(args: PermissionsArgs) -> list[Statement]:
    if not args.vpc_enabled:
        return []
    ec2 = args.arns.service
    return [
        Statement(
            sid="AttachToPrivateSubnets",
            actions=VPC_ENI_ACTIONS,
            resources=[
                ec2("ec2", "network-interface/*"),
                ec2("ec2", "subnet/*"),
                ec2("ec2", "security-group/*"),
            ],
        ),
        Statement(
            sid="DescribeNetwork",
            actions=VPC_DESCRIBE_ACTIONS,
            resources=["*"],
            wildcard_resource_reason="EC2 Describe calls have no resource-level permissions",
        ),
    ]


def _logs(sid: str, arns: Arns, group: str) -> Statement:
    return Statement(
        sid=sid,
        actions=("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
        resources=[arns.log_group(group), arns.log_streams(group)],
    )


def _training(args: PermissionsArgs, b: _Buckets) -> PolicyDocument:
    return PolicyDocument(
        [
            Statement(
                sid="ListOwnPrefixes", actions=["s3:ListBucket"], resources=[b.data, b.artifacts]
            ),
            Statement(sid="ReadTrainingData", actions=["s3:GetObject"], resources=[b.datasets]),
            Statement(
                sid="WriteModelAndCheckpoints",
                actions=("s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"),
                resources=[b.training_output, b.checkpoints],
            ),
            _kms_use("UseDataKey", args.data_key_arn),
            _logs("WriteTrainingLogs", args.arns, TRAINING_LOG_GROUP),
            _metrics(),
            *_ecr_pull(args),
            *_vpc_access(args),
        ]
    )


def _inference(args: PermissionsArgs, b: _Buckets) -> PolicyDocument:
    return PolicyDocument(
        [
            Statement(
                sid="ReadModelArtifacts",
                actions=["s3:GetObject"],
                resources=[b.models, b.training_output],
            ),
            Statement(
                sid="WriteDataCapture",
                actions=("s3:AbortMultipartUpload", "s3:PutObject"),
                resources=[b.all_capture],
            ),
            _kms_use("UseDataKey", args.data_key_arn),
            Statement(
                sid="VerifyModelSignature", actions=VERIFY_ACTIONS, resources=[args.signing_key_arn]
            ),
            _logs("WriteEndpointLogs", args.arns, f"{ENDPOINT_LOG_GROUP_PREFIX}{args.prefix}-*"),
            _metrics(),
            *_ecr_pull(args),
            *_vpc_access(args),
        ]
    )


def _auditor(args: PermissionsArgs, b: _Buckets) -> PolicyDocument:
    return PolicyDocument(
        [
            Statement(
                sid="ReadKeyEvidence",
                actions=(
                    "kms:DescribeKey",
                    "kms:GetKeyPolicy",
                    "kms:GetKeyRotationStatus",
                    "kms:GetPublicKey",
                    "kms:Verify",
                ),
                resources=[args.data_key_arn, args.signing_key_arn],
            ),
            Statement(
                sid="DecryptEvidence", actions=DATA_READ_ACTIONS, resources=[args.data_key_arn]
            ),
            Statement(
                sid="ReadArtifactsAndSignatures",
                actions=("s3:GetObject", "s3:GetObjectVersion"),
                resources=[b.all_artifacts],
            ),
            Statement(
                sid="ReadBucketConfiguration",
                actions=(
                    "s3:GetBucketLogging",
                    "s3:GetBucketObjectLockConfiguration",
                    "s3:GetBucketPolicy",
                    "s3:GetBucketVersioning",
                    "s3:GetEncryptionConfiguration",
                    "s3:ListBucket",
                ),
                resources=[b.data, b.artifacts, b.capture, b.logs],
            ),
            Statement(
                sid="ReadModelRegistry",
                actions=(
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:ListModelPackages",
                    "sagemaker:ListTags",
                ),
                resources=[
                    args.arns.sagemaker("model-package-group", f"{args.prefix}-*"),
                    args.arns.sagemaker("model-package", f"{args.prefix}-*"),
                ],
            ),
        ]
    )


def _plan(args: PermissionsArgs, b: _Buckets) -> PolicyDocument:
    """`pulumi preview` refreshes state: reads only, on this stack's resources."""
    a = args.arns
    return PolicyDocument(
        [
            Statement(
                sid="ReadBuckets",
                actions=(
                    "s3:GetBucketLogging",
                    "s3:GetBucketObjectLockConfiguration",
                    "s3:GetBucketOwnershipControls",
                    "s3:GetBucketPolicy",
                    "s3:GetBucketPublicAccessBlock",
                    "s3:GetBucketTagging",
                    "s3:GetBucketVersioning",
                    "s3:GetEncryptionConfiguration",
                    "s3:GetLifecycleConfiguration",
                    "s3:ListBucket",
                ),
                resources=[b.data, b.artifacts, b.capture, b.logs],
            ),
            Statement(
                sid="ReadKeys",
                actions=(
                    "kms:DescribeKey",
                    "kms:GetKeyPolicy",
                    "kms:GetKeyRotationStatus",
                    "kms:GetPublicKey",
                    "kms:ListResourceTags",
                ),
                resources=[args.data_key_arn, args.signing_key_arn],
            ),
            Statement(
                sid="ReadRoles",
                actions=(
                    "iam:GetRole",
                    "iam:GetRolePolicy",
                    "iam:ListAttachedRolePolicies",
                    "iam:ListRolePolicies",
                ),
                resources=[a.iam_role(f"{args.prefix}-*")],
            ),
            Statement(
                sid="ReadSageMaker",
                actions=(
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DescribeModel",
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:ListTags",
                ),
                resources=[
                    a.sagemaker("endpoint", f"{args.prefix}-*"),
                    a.sagemaker("endpoint-config", f"{args.prefix}-*"),
                    a.sagemaker("model", f"{args.prefix}-*"),
                    a.sagemaker("model-package", f"{args.prefix}-*"),
                    a.sagemaker("model-package-group", f"{args.prefix}-*"),
                ],
            ),
            Statement(
                sid="ReadReleaseEvidence",
                actions=["s3:GetObject"],
                resources=[b.models, b.signatures],
            ),
            Statement(
                sid="DecryptEvidence", actions=DATA_READ_ACTIONS, resources=[args.data_key_arn]
            ),
            Statement(
                sid="VerifyModelSignatures",
                actions=VERIFY_ACTIONS,
                resources=[args.signing_key_arn],
            ),
            Statement(
                sid="ReadRepository",
                actions=(
                    "ecr:DescribeRepositories",
                    "ecr:GetLifecyclePolicy",
                    "ecr:ListTagsForResource",
                ),
                resources=[args.ecr_repository_arn],
            ),
            Statement(
                sid="DescribeNetworkAndLogs",
                actions=(
                    "cloudtrail:DescribeTrails",
                    "ec2:DescribeFlowLogs",
                    "ec2:DescribeRouteTables",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeVpcEndpoints",
                    "ec2:DescribeVpcs",
                    "logs:DescribeLogGroups",
                ),
                resources=["*"],
                wildcard_resource_reason="these Describe calls have no resource-level permissions",
            ),
        ]
    )


def _train(args: PermissionsArgs, b: _Buckets) -> PolicyDocument:
    a = args.arns
    return PolicyDocument(
        [
            Statement(
                sid="RunTrainingJobs",
                actions=(
                    "sagemaker:AddTags",
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                ),
                resources=[a.sagemaker("training-job", f"{args.prefix}-*")],
            ),
            Statement(
                sid="PassTrainingRole",
                actions=["iam:PassRole"],
                resources=[args.training_role.arn],
                conditions=[
                    Condition("StringEquals", "iam:PassedToService", ["sagemaker.amazonaws.com"])
                ],
            ),
            Statement(
                sid="ListOwnPrefixes", actions=["s3:ListBucket"], resources=[b.data, b.artifacts]
            ),
            Statement(
                sid="StageDataAndReadResults",
                actions=("s3:GetObject", "s3:PutObject"),
                resources=[b.datasets, b.training_output],
            ),
            Statement(
                sid="ReadProductionModel",
                actions=["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
                resources=[
                    a.sagemaker("model-package-group", f"{args.prefix}-*"),
                    a.sagemaker("model-package", f"{args.prefix}-*"),
                ],
            ),
            Statement(
                sid="ReadProductionArtifacts",
                actions=["s3:GetObject"],
                resources=[b.models, b.signatures],
            ),
            Statement(
                sid="VerifyProductionModel",
                actions=VERIFY_ACTIONS,
                resources=[args.signing_key_arn],
            ),
            _kms_use("UseDataKey", args.data_key_arn),
        ]
    )


def _release(args: PermissionsArgs, b: _Buckets) -> PolicyDocument:
    a = args.arns
    return PolicyDocument(
        [
            Statement(sid="SignManifests", actions=SIGN_ACTIONS, resources=[args.signing_key_arn]),
            Statement(sid="ListArtifacts", actions=["s3:ListBucket"], resources=[b.artifacts]),
            Statement(
                sid="ReadTrainedModels", actions=["s3:GetObject"], resources=[b.training_output]
            ),
            Statement(
                sid="PublishModelsAndSignatures",
                actions=("s3:GetObject", "s3:PutObject"),
                resources=[b.models, b.signatures],
            ),
            _kms_use("UseDataKey", args.data_key_arn),
            Statement(
                sid="RegisterModels",
                actions=(
                    "sagemaker:AddTags",
                    "sagemaker:CreateModelPackage",
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:ListModelPackages",
                    "sagemaker:ListTags",
                    "sagemaker:UpdateModelPackage",
                ),
                resources=[
                    a.sagemaker("model-package-group", f"{args.prefix}-*"),
                    a.sagemaker("model-package", f"{args.prefix}-*"),
                ],
            ),
        ]
    )


def _deploy(args: PermissionsArgs, b: _Buckets) -> PolicyDocument:
    """`pulumi up` for the serving layer: models, endpoints, alarms, autoscaling.

    The deploy role changes what serves; the foundation (keys, buckets, IAM, network)
    is applied by a platform administrator, so this role cannot widen its own rights.
    """
    a = args.arns
    sm = lambda kind: a.sagemaker(kind, f"{args.prefix}-*")  # noqa: E731
    return PolicyDocument(
        [
            Statement(
                sid="ManageServing",
                actions=(
                    "sagemaker:AddTags",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:CreateModel",
                    "sagemaker:DeleteEndpointConfig",
                    "sagemaker:DeleteModel",
                    "sagemaker:DeleteTags",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DescribeModel",
                    "sagemaker:ListTags",
                    "sagemaker:UpdateEndpoint",
                ),
                resources=[sm("endpoint"), sm("endpoint-config"), sm("model")],
            ),
            Statement(
                sid="ReadRegistry",
                actions=(
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:DescribeModelPackageGroup",
                    "sagemaker:ListModelPackages",
                    "sagemaker:ListTags",
                ),
                resources=[sm("model-package-group"), sm("model-package")],
            ),
            Statement(
                sid="PassInferenceRole",
                actions=["iam:PassRole"],
                resources=[args.inference_role.arn],
                conditions=[
                    Condition("StringEquals", "iam:PassedToService", ["sagemaker.amazonaws.com"])
                ],
            ),
            Statement(
                sid="ManageAlarms",
                actions=(
                    "cloudwatch:DeleteAlarms",
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:ListTagsForResource",
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:TagResource",
                ),
                resources=[a.service("cloudwatch", f"alarm:{args.prefix}-*")],
            ),
            Statement(
                sid="ManageAutoscaling",
                actions=(
                    "application-autoscaling:DeleteScalingPolicy",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:RegisterScalableTarget",
                ),
                resources=[a.service("application-autoscaling", "scalable-target/*")],
            ),
            Statement(
                sid="DescribeAutoscaling",
                actions=(
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                ),
                resources=["*"],
                wildcard_resource_reason="Describe calls have no resource-level permissions",
            ),
            Statement(
                sid="ShiftEndpointTraffic",
                actions=["sagemaker:UpdateEndpointWeightsAndCapacities"],
                resources=[sm("endpoint")],
            ),
            Statement(
                sid="ManageAlarmTopic",
                actions=(
                    "sns:CreateTopic",
                    "sns:DeleteTopic",
                    "sns:GetTopicAttributes",
                    "sns:ListTagsForResource",
                    "sns:SetTopicAttributes",
                    "sns:TagResource",
                ),
                resources=[a.service("sns", f"{args.prefix}-*")],
            ),
            Statement(
                sid="ManageEndpointLogGroups",
                actions=(
                    "logs:AssociateKmsKey",
                    "logs:CreateLogGroup",
                    "logs:DeleteLogGroup",
                    "logs:ListTagsForResource",
                    "logs:PutRetentionPolicy",
                    "logs:TagResource",
                ),
                resources=[a.log_group(f"{ENDPOINT_LOG_GROUP_PREFIX}{args.prefix}-*")],
            ),
            Statement(
                sid="DescribeLogGroups",
                actions=["logs:DescribeLogGroups"],
                resources=["*"],
                wildcard_resource_reason="DescribeLogGroups has no resource-level permissions",
            ),
            Statement(
                sid="AutoscalingServiceLinkedRole",
                actions=["iam:CreateServiceLinkedRole"],
                resources=[
                    a.iam_role(
                        "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
                        "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
                    )
                ],
                conditions=[
                    Condition(
                        "StringEquals",
                        "iam:AWSServiceName",
                        ["sagemaker.application-autoscaling.amazonaws.com"],
                    )
                ],
            ),
            Statement(
                sid="VerifyModelSignatures",
                actions=VERIFY_ACTIONS,
                resources=[args.signing_key_arn],
            ),
            Statement(
                sid="ReadSignatures", actions=["s3:GetObject"], resources=[b.signatures, b.models]
            ),
            Statement(
                sid="GrantKeyToEndpoints",
                actions=["kms:CreateGrant"],
                resources=[args.data_key_arn],
                conditions=[Condition("Bool", "kms:GrantIsForAWSResource", ["true"])],
            ),
            Statement(sid="DecryptState", actions=DATA_READ_ACTIONS, resources=[args.data_key_arn]),
        ]
    )


def _monitor(args: PermissionsArgs, b: _Buckets) -> PolicyDocument:
    """The scheduled drift job: read what endpoints captured and the training reference."""
    return PolicyDocument(
        [
            Statement(
                sid="ListCaptureAndData", actions=["s3:ListBucket"], resources=[b.capture, b.data]
            ),
            Statement(
                sid="ReadCapturedRequests",
                actions=["s3:GetObject"],
                resources=[b.all_capture, b.datasets],
            ),
            Statement(
                sid="DecryptCapture", actions=DATA_READ_ACTIONS, resources=[args.data_key_arn]
            ),
        ]
    )
