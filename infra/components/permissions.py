"""Least-privilege permissions for every role, attached as inline policies.

Each role may touch only its own prefixes, keys and named resources. `*` resources
appear only for actions that IAM cannot scope (each says why in its statement). The calls
that could turn a control off outside Pulumi (`CreateTrainingJob`, `CreateModel`,
`CreateEndpointConfig`) are allowed only under IAM conditions that force the stack's
network isolation, subnets and KMS keys; docs/identities.md has the table of who may do what.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pulumi
import pulumi_aws as aws

from common.iam_document import Condition
from infra.arns import Arns, s3_bucket, s3_objects
from infra.components.keys import (
    DATA_READ_ACTIONS,
    DATA_USE_ACTIONS,
    SIGN_ACTIONS,
    VERIFY_ACTIONS,
    via_service,
)
from infra.components.state_access import state_key_arns, state_statements
from infra.contracts import (
    CAPTURE_PREFIX,
    DATASETS_PREFIX,
    GROUND_TRUTH_PREFIX,
    MAIN_SCOPE,
    MODELS_PREFIX,
    MONITOR_STATE_PREFIX,
    MONITORING_NAMESPACE,
    PULL_REQUEST_SCOPE,
    TRACKING_ACTIONS,
    TRACKING_PREFIX,
    checkpoints_prefix,
    group_models_prefix,
    training_output_prefix,
)
from infra.policy_document import PolicyDocument, Statement

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
PROCESSING_LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
ENDPOINT_LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
METRIC_NAMESPACES = ["/aws/sagemaker/TrainingJobs", "/aws/sagemaker/Endpoints", "mlops"]
ECR_PULL = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
ECR_LOGIN_REASON = "ecr:GetAuthorizationToken is account-wide; IAM has no resource for it"
# Why the demo leaves a grant unused (Statement.unused_in_demo_because); few and honest.
PULUMI_UP = (
    "`pulumi up` of the serving layer uses it; the demo's emulated `pulumi up` "
    "(ml/emulator/rollout.py) replays only the SageMaker calls (models, endpoint "
    "configurations, the endpoint's blue/green update), not alarms, autoscaling, topics, "
    "log groups or key grants"
)
PULUMI_PREVIEW = (
    "`pulumi preview` refreshes these resources; the demo plans against the offline graph"
)
SAGEMAKER_PLATFORM = (
    "SageMaker's platform uses it on the role's behalf (logs, metrics, image pull, network "
    "interfaces, data capture); the emulator runs the container's code as a local process"
)
KUBERNETES_FETCH = (
    "the demo serves on SageMaker; tests/ml/release/test_kubernetes_fetch.py runs "
    "`mlops model fetch` as this role in the emulator with IAM enforced"
)
QUALITY_MONITOR = (
    "`mlops quality` (quality-monitor.yml) uses it, and "
    "tests/ml/quality/test_quality_emulated.py runs it as this role with IAM enforced; "
    "the demo's monitor step runs drift only (quality needs ground-truth labels for the "
    "captured requests, which come from outside the stack)"
)
DRIFT_ON_SAGEMAKER = (
    "`mlops drift --on sagemaker`, for a window that outgrows a runner; the demo's monitor "
    "runs on the runner, tests/ml/drift/test_drift_processing.py runs the job in the emulator"
)
IMAGE_PUSH_IN_CI = (
    "image.yml pushes the serving image (`mlops image push`); the demo runs the image's "
    "code as local processes and pushes nothing"
)
# `docker push` / `podman push` to ECR: layer upload, then the manifest; DescribeImages reads
# the digest ECR stored back (`mlops image push`). No delete, no tag change: tags are immutable.
ECR_PUSH = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)
AUDITOR_BY_HAND = (
    "auditors read this evidence themselves (AWS console or CLI); no mlops command does"
)
LIVE_AUDIT = (
    "`mlops audit --live` reads it as this role; tests/ml/audit/test_audit_sources.py runs that "
    "in the emulator with IAM enforced (the demo audits the declared graph)"
)
READ_REGISTRY = (
    "sagemaker:DescribeModelPackage",
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:ListModelPackages",
)
"""Read a group and its packages (what every registry reader starts from)."""
APPROVED = "Approved"
PENDING = "PendingManualApproval"
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
class DataKeyUse:
    """What a role does with the data key, and the services it does it through."""

    actions: Sequence[str]
    via_services: Sequence[str]


# One fact: the key policy (infra/program.py -> Keys) and each identity policy read this.
# `approve` has no entry: the approver never touches data.
DATA_KEY_USE: dict[str, DataKeyUse] = {
    "training": DataKeyUse(DATA_USE_ACTIONS, ("s3", "sagemaker")),
    "training-pr": DataKeyUse(DATA_USE_ACTIONS, ("s3", "sagemaker")),
    "inference": DataKeyUse(DATA_USE_ACTIONS, ("s3", "sagemaker")),
    "build": DataKeyUse(DATA_USE_ACTIONS, ("s3", "sagemaker")),
    "train": DataKeyUse(DATA_READ_ACTIONS, ("s3", "sagemaker")),
    "release": DataKeyUse(DATA_USE_ACTIONS, ("s3",)),
    "promote": DataKeyUse(DATA_USE_ACTIONS, ("s3",)),
    "deploy": DataKeyUse(DATA_READ_ACTIONS, ("s3", "sagemaker")),
    "plan": DataKeyUse(DATA_READ_ACTIONS, ("s3",)),
    # The monitor also writes its marker (SSE-KMS): S3 asks the key for a data key; its
    # processing jobs (`mlops drift --on sagemaker`) encrypt their volume and output.
    "monitor": DataKeyUse((*DATA_READ_ACTIONS, "kms:GenerateDataKey"), ("s3", "sagemaker")),
    "auditor": DataKeyUse(DATA_READ_ACTIONS, ("s3",)),
    # The MLflow tracking server's artifact store: S3 encrypts and decrypts for it.
    "tracking": DataKeyUse(DATA_USE_ACTIONS, ("s3",)),
    # The Kubernetes pods' fetch: S3 decrypts the model object for it; nothing more.
    "kubernetes": DataKeyUse(("kms:Decrypt",), ("s3",)),
}
# Roles that resolve the data key themselves (`mlops register --kms-key` takes an id,
# ARN or alias and asks KMS for its ARN): kms:DescribeKey directly, not through a service.
DATA_KEY_DESCRIBERS = ("release", "promote")
# Roles whose SageMaker calls attach the data key to volumes and instances (kms:CreateGrant).
GRANT_USERS = ("training", "training-pr", "inference", "train", "build", "deploy", "monitor")
# Roles that may verify signatures with the signing key's public half. `release` verifies
# the artifact it is about to register (`mlops register` refuses one that does not verify).
VERIFIERS = ("auditor", "plan", "train", "build", "release", "deploy")


@dataclass(frozen=True)
class NetworkIds:
    """The stack's private network, which training jobs and models must be placed in."""

    subnet_ids: Sequence[pulumi.Input[str]]
    training_security_group_id: pulumi.Input[str]
    endpoint_security_group_id: pulumi.Input[str]


@dataclass(frozen=True)
class AuditLogs:
    """Where the audit logs are, for the auditor's read grants."""

    logs_key_arn: pulumi.Input[str]
    trail_bucket: pulumi.Input[str] | None
    flow_log_group_arn: pulumi.Input[str] | None


@dataclass(frozen=True)
class PromotionSource:
    """The stack (another AWS account) this stack's `gh-promote` role copies packages from."""

    prefix: str
    """The source stack's name prefix (`mlops-staging`): its groups and artifact bucket."""
    account_id: str
    trusted_signing_key_arns: Sequence[str]


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
    roles: Mapping[str, aws.iam.Role]
    """`Identity.roles`: purpose -> role; a purpose without a role gets no policy."""
    network: NetworkIds | None
    """The stack's VPC, or None when the stack has none."""
    plan_metadata_only: bool
    """Prod: the plan role (which pull requests reach) reads no object and decrypts nothing."""
    stack: str = ""
    """The Pulumi stack (`dev`, ...) whose state the plan and deploy roles read and write."""
    state_bucket: pulumi.Input[str] | None = None
    """The account's Pulumi state bucket (infra/bootstrap); None: no state grants."""
    audit_logs: AuditLogs | None = None
    kubernetes_model_group: str | None = None
    """The group the Kubernetes pods serve from; the `kubernetes` role reads only it."""
    promotion: PromotionSource | None = None
    """Where `gh-promote` reads from; None: the stack takes no promotions (and has no such role)."""
    tracking_server_arn: pulumi.Input[str] | None = None
    """The stack's MLflow tracking server; the launchers log runs to it. None: no server."""


class Permissions(pulumi.ComponentResource):
    """One inline policy per role; `documents` keeps them for tests and the IAM linter."""

    def __init__(
        self, name: str, args: PermissionsArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("mlops:identity:Permissions", name, None, opts)
        self._args = args
        b = _Buckets(args)
        builders = {
            "training": lambda: _execution(args, b, MAIN_SCOPE),
            "training-pr": lambda: _execution(args, b, PULL_REQUEST_SCOPE),
            "inference": lambda: _inference(args, b),
            "auditor": lambda: _auditor(args, b),
            "plan": lambda: _plan(args, b),
            "train": lambda: _launcher(args, b, PULL_REQUEST_SCOPE),
            "build": lambda: _launcher(args, b, MAIN_SCOPE),
            "release": lambda: _release(args, b),
            "approve": lambda: _approve(args),
            "deploy": lambda: _deploy(args, b),
            "monitor": lambda: _monitor(args, b),
            "kubernetes": lambda: _kubernetes_fetch(args),
            "promote": lambda: _promote(args, b),
            "tracking": lambda: _tracking(args, b),
        }
        self.documents: dict[str, PolicyDocument] = {
            purpose: build() for purpose, build in builders.items() if purpose in args.roles
        }
        for purpose, document in self.documents.items():
            aws.iam.RolePolicy(
                f"{name}-{purpose}",
                role=args.roles[purpose].name,
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
        self.datasets = s3_objects(p, args.data_bucket, DATASETS_PREFIX)
        self.models = s3_objects(p, args.artifact_bucket, MODELS_PREFIX)
        self.all_artifacts = s3_objects(p, args.artifact_bucket)
        # What endpoints captured, and the labels that arrive later: two prefixes, so the
        # endpoint that writes the first cannot rewrite the ground truth it is judged by.
        self.captured = s3_objects(p, args.capture_bucket, CAPTURE_PREFIX)
        self.ground_truth = s3_objects(p, args.capture_bucket, GROUND_TRUTH_PREFIX)
        self._partition, self._artifact_bucket = p, args.artifact_bucket

    def training_output(self, scope: str) -> pulumi.Output[str]:
        return self._artifacts(training_output_prefix(scope))

    def checkpoints(self, scope: str) -> pulumi.Output[str]:
        return self._artifacts(checkpoints_prefix(scope))

    def _artifacts(self, prefix: str) -> pulumi.Output[str]:
        return s3_objects(self._partition, self._artifact_bucket, prefix)


def _kms_use(purpose: str, args: PermissionsArgs) -> Statement:
    use = DATA_KEY_USE[purpose]
    return Statement(
        sid="UseDataKey",
        actions=use.actions,
        resources=[args.data_key_arn],
        conditions=[via_service(args.arns.region, use.via_services)],
    )


def _packages(args: PermissionsArgs) -> list[pulumi.Output[str]]:
    """The stack's model package groups and their versions."""
    a = args.arns
    return [
        a.sagemaker("model-package-group", f"{args.prefix}-*"),
        a.sagemaker("model-package", f"{args.prefix}-*"),
    ]


def _platform(
    args: PermissionsArgs, log_sid: str, log_group: str, metrics: bool = True
) -> list[Statement]:
    """What SageMaker's platform does with an execution role (training job or endpoint):
    write its logs and metrics, pull the image, attach to the private subnets. `metrics`
    False: the role publishes only its own namespace (the monitor's processing jobs)."""
    ec2 = args.arns.service
    published = Statement(
        sid="PublishOwnMetrics",
        actions=["cloudwatch:PutMetricData"],
        resources=["*"],
        conditions=[Condition("StringEquals", "cloudwatch:namespace", METRIC_NAMESPACES)],
        wildcard_resource_reason="PutMetricData has no resource type; scoped by namespace",
    )
    statements = [
        _logs(log_sid, args.arns, log_group),
        *([published] if metrics else []),
        Statement(sid="PullServingImage", actions=ECR_PULL, resources=[args.ecr_repository_arn]),
        Statement(
            sid="EcrLogin",
            actions=["ecr:GetAuthorizationToken"],
            resources=["*"],
            wildcard_resource_reason=ECR_LOGIN_REASON,
        ),
    ]
    if args.network is not None:
        statements += [
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
    return [replace(s, unused_in_demo_because=SAGEMAKER_PLATFORM) for s in statements]


def _placement(network: NetworkIds | None, security_group: str) -> list[Condition]:
    """The request must name only the stack's subnets and `security_group`, and name them:
    `ForAllValues` alone would also accept a request without any VPC."""
    if network is None:
        return []
    group = getattr(network, security_group)
    return [
        Condition("ForAllValues:StringEquals", "sagemaker:VpcSubnets", list(network.subnet_ids)),
        Condition("ForAllValues:StringEquals", "sagemaker:VpcSecurityGroupIds", [group]),
        Condition("Null", "sagemaker:VpcSubnets", ["false"]),
        Condition("Null", "sagemaker:VpcSecurityGroupIds", ["false"]),
    ]


def training_job_conditions(args: PermissionsArgs) -> list[Condition]:
    """What every CreateTrainingJob of the stack must say: isolated, encrypted, placed."""
    return [
        Condition("Bool", "sagemaker:NetworkIsolation", ["true"]),
        Condition("Bool", "sagemaker:InterContainerTrafficEncryption", ["true"]),
        Condition("ArnEquals", "sagemaker:VolumeKmsKey", [args.data_key_arn]),
        Condition("ArnEquals", "sagemaker:OutputKmsKey", [args.data_key_arn]),
        *_placement(args.network, "training_security_group_id"),
    ]


def _logs(sid: str, arns: Arns, group: str) -> Statement:
    return Statement(
        sid=sid,
        actions=("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
        resources=[arns.log_group(group), arns.log_streams(group)],
    )


def _execution(args: PermissionsArgs, b: _Buckets, scope: str) -> PolicyDocument:
    """A SageMaker training job's own role: `training` (main) or `training-pr`."""
    purpose = "training" if scope == MAIN_SCOPE else "training-pr"
    return PolicyDocument(
        [
            Statement(
                sid="ListOwnPrefixes", actions=["s3:ListBucket"], resources=[b.data, b.artifacts]
            ),
            Statement(sid="ReadTrainingData", actions=["s3:GetObject"], resources=[b.datasets]),
            Statement(
                sid="WriteModelAndCheckpoints",
                actions=("s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"),
                resources=[b.training_output(scope), b.checkpoints(scope)],
            ),
            _kms_use(purpose, args),
            *_platform(args, "WriteTrainingLogs", TRAINING_LOG_GROUP),
        ]
    )


def _inference(args: PermissionsArgs, b: _Buckets) -> PolicyDocument:
    return PolicyDocument(
        [
            Statement(sid="ReadModelArtifacts", actions=["s3:GetObject"], resources=[b.models]),
            Statement(
                sid="WriteDataCapture",
                actions=("s3:AbortMultipartUpload", "s3:PutObject"),
                resources=[b.captured],
                unused_in_demo_because=SAGEMAKER_PLATFORM,
            ),
            _kms_use("inference", args),
            # No kms:Verify: the endpoint's network-isolated container cannot reach KMS; the
            # server verifies offline with the PEM public key the endpoint passes it.
            *_platform(args, "WriteEndpointLogs", f"{ENDPOINT_LOG_GROUP_PREFIX}{args.prefix}-*"),
        ]
    )


def _auditor(args: PermissionsArgs, b: _Buckets) -> PolicyDocument:
    logs = args.audit_logs
    keys = [args.data_key_arn, args.signing_key_arn, *([logs.logs_key_arn] if logs else [])]
    buckets = [b.data, b.artifacts, b.capture, b.logs]
    statements = [
        Statement(
            sid="ReadKeyEvidence",
            actions=(
                "kms:DescribeKey",
                "kms:GetKeyPolicy",
                "kms:GetKeyRotationStatus",
                "kms:GetPublicKey",
                "kms:ListResourceTags",
                "kms:Verify",
            ),
            resources=keys,
        ),
        # `mlops audit --live`: the stack's roles, alarm topics and trail as deployed. Reads
        # of configuration only: no iam:Simulate*, no sns:Subscribe, no trail changes.
        Statement(
            sid="ReadRolesLive",
            unused_in_demo_because=LIVE_AUDIT,
            actions=(
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:ListRolePolicies",
            ),
            resources=[args.arns.iam_role(f"{args.prefix}-*")],
        ),
        Statement(
            sid="ReadTopicsAndTrailLive",
            unused_in_demo_because=LIVE_AUDIT,
            actions=(
                "cloudtrail:GetEventSelectors",
                "cloudtrail:GetTrail",
                "cloudtrail:GetTrailStatus",
                "cloudtrail:ListTags",
                "sns:GetTopicAttributes",
                "sns:ListTagsForResource",
            ),
            resources=[
                args.arns.service("sns", f"{args.prefix}-*"),
                args.arns.service("cloudtrail", f"trail/{args.prefix}-*"),
            ],
        ),
        _kms_use("auditor", args),
        Statement(
            sid="ReadArtifactsAndSignatures",
            actions=("s3:GetObject", "s3:GetObjectVersion"),
            resources=[b.all_artifacts],
        ),
        Statement(
            sid="ReadModelRegistry",
            actions=(
                *READ_REGISTRY,
                "sagemaker:ListTags",
            ),
            resources=_packages(args),
        ),
    ]
    if logs is not None:
        statements.append(
            Statement(
                sid="DecryptAuditLogs",
                unused_in_demo_because=AUDITOR_BY_HAND,
                actions=DATA_READ_ACTIONS,
                resources=[logs.logs_key_arn],
                conditions=[via_service(args.arns.region, ["s3"])],
            )
        )
        if logs.trail_bucket is not None:
            trail = s3_bucket(args.arns.partition, logs.trail_bucket)
            buckets.append(trail)
            statements.append(
                Statement(
                    sid="ReadTrailLogs",
                    unused_in_demo_because=AUDITOR_BY_HAND,
                    actions=("s3:GetObject", "s3:GetObjectVersion"),
                    resources=[s3_objects(args.arns.partition, logs.trail_bucket)],
                )
            )
        if logs.flow_log_group_arn is not None:
            statements.append(
                Statement(
                    sid="ReadFlowLogs",
                    unused_in_demo_because=AUDITOR_BY_HAND,
                    actions=(
                        "logs:DescribeLogStreams",
                        "logs:FilterLogEvents",
                        "logs:GetLogEvents",
                    ),
                    resources=[
                        logs.flow_log_group_arn,
                        pulumi.Output.concat(logs.flow_log_group_arn, ":log-stream:*"),
                    ],
                )
            )
    statements.insert(
        5,
        Statement(
            sid="ReadBucketConfiguration",
            unused_in_demo_because=LIVE_AUDIT,
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
            resources=buckets,
        ),
    )
    return PolicyDocument(statements)


def _plan(args: PermissionsArgs, b: _Buckets) -> PolicyDocument:
    """`pulumi preview` refreshes state: reads only, on this stack's resources.

    Pull requests reach this role. In prod it is metadata-only: it reads no object and
    decrypts nothing, so no branch (or dependency a branch adds) can take prod's models
    or data; `pulumi preview` needs only the resources' configuration.
    """
    a = args.arns
    keys = [args.data_key_arn, args.signing_key_arn]
    if args.audit_logs is not None:
        keys.append(args.audit_logs.logs_key_arn)
    statements = [
        Statement(
            sid="ReadBuckets",
            unused_in_demo_because=PULUMI_PREVIEW,
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
            resources=keys,
        ),
        Statement(
            sid="ReadRoles",
            unused_in_demo_because=PULUMI_PREVIEW,
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
                *READ_REGISTRY,
                "sagemaker:ListTags",
            ),
            resources=[
                a.sagemaker("endpoint", f"{args.prefix}-*"),
                a.sagemaker("endpoint-config", f"{args.prefix}-*"),
                a.sagemaker("model", f"{args.prefix}-*"),
                *_packages(args),
            ],
        ),
        Statement(
            sid="VerifyModelSignatures",
            actions=VERIFY_ACTIONS,
            resources=[args.signing_key_arn],
        ),
        Statement(
            sid="ReadRepository",
            unused_in_demo_because=PULUMI_PREVIEW,
            actions=(
                "ecr:DescribeRepositories",
                "ecr:GetLifecyclePolicy",
                "ecr:ListTagsForResource",
            ),
            resources=[args.ecr_repository_arn],
        ),
        Statement(
            sid="DescribeNetworkAndLogs",
            unused_in_demo_because=PULUMI_PREVIEW,
            actions=(
                "cloudtrail:DescribeTrails",
                "ec2:DescribeAvailabilityZones",
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
    if not args.plan_metadata_only:
        # Prod's state holds every output and the data keys of its secrets: a pull request
        # reads none of it, so prod is previewed from main only (docs/from-demo-to-aws.md).
        statements += _state(args, "Plan", write=False)
        statements += [
            Statement(sid="ReadReleaseEvidence", actions=["s3:GetObject"], resources=[b.models]),
            _kms_use("plan", args),
        ]
    return PolicyDocument(statements)


def _launcher(args: PermissionsArgs, b: _Buckets, scope: str) -> PolicyDocument:
    """Who launches training: `gh-build` on main, `gh-train` for pull requests.

    Both read datasets and the production model (to validate against it); only the main
    build stages new datasets. Each passes only its own execution role, and may create a
    training job only under the stack's isolation, placement and key conditions.
    """
    a = args.arns
    main = scope == MAIN_SCOPE
    purpose, execution = ("build", "training") if main else ("train", "training-pr")
    datasets = (
        Statement(
            sid="StageDatasets",
            actions=("s3:GetObject", "s3:PutObject"),
            resources=[b.datasets],
        )
        if main
        else Statement(sid="ReadDatasets", actions=["s3:GetObject"], resources=[b.datasets])
    )
    training_jobs = a.sagemaker("training-job", f"{args.prefix}-*")
    return PolicyDocument(
        [
            Statement(
                sid="CreateIsolatedEncryptedTrainingJobs",
                actions=["sagemaker:CreateTrainingJob"],
                resources=[training_jobs],
                conditions=training_job_conditions(args),
            ),
            Statement(
                sid="FollowTrainingJobs",
                actions=(
                    "sagemaker:AddTags",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                ),
                resources=[training_jobs],
            ),
            Statement(
                sid="PassTrainingRole",
                actions=["iam:PassRole"],
                resources=[args.roles[execution].arn],
                conditions=[
                    Condition("StringEquals", "iam:PassedToService", ["sagemaker.amazonaws.com"])
                ],
            ),
            # A pull request checks its datasets are staged (HeadObject answers 404 rather
            # than 403 only with ListBucket); the main build stages them and lists nothing.
            *(
                []
                if main
                else [
                    Statement(
                        sid="ListOwnPrefixes",
                        actions=["s3:ListBucket"],
                        resources=[b.data, b.artifacts],
                    )
                ]
            ),
            datasets,
            Statement(
                sid="ReadTrainedModel",
                actions=["s3:GetObject"],
                resources=[b.training_output(scope)],
            ),
            Statement(
                sid="ReadProductionModel",
                # `mlops release fetch` (the baseline to beat) describes the group first.
                actions=READ_REGISTRY,
                resources=_packages(args),
            ),
            Statement(
                sid="ReadProductionArtifacts", actions=["s3:GetObject"], resources=[b.models]
            ),
            Statement(
                sid="VerifyProductionModel",
                actions=VERIFY_ACTIONS,
                resources=[args.signing_key_arn],
            ),
            _kms_use(purpose, args),
            *(_push_image(args) if main else []),
            *_log_runs(args),
        ]
    )


TRACKING_IN_CI = (
    "`mlops train` logs CI runs to the stack's tracking server; the demo logs to a local "
    "MLflow store (the emulator has no tracking server)"
)


def _log_runs(args: PermissionsArgs) -> list[Statement]:
    """The calls `mlops train` makes to log its run (ml/tracking/runs.py), on this server
    only. No delete and no model registry: a run is evidence of an experiment, the signed
    model package is the release record."""
    if args.tracking_server_arn is None:
        return []
    return [
        Statement(
            sid="LogTrainingRuns",
            actions=TRACKING_ACTIONS,
            resources=[args.tracking_server_arn],
            unused_in_demo_because=TRACKING_IN_CI,
        )
    ]


def _tracking(args: PermissionsArgs, b: _Buckets) -> PolicyDocument:
    """The tracking server's own role: read and write its artifact prefix, nothing else."""
    prefix = b._artifacts(TRACKING_PREFIX)
    statements = [
        Statement(
            sid="ListTrackingPrefix",
            actions=["s3:ListBucket"],
            resources=[b.artifacts],
            conditions=[Condition("StringLike", "s3:prefix", [f"{TRACKING_PREFIX}*"])],
        ),
        Statement(
            sid="ReadWriteTrackingArtifacts",
            actions=("s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"),
            resources=[prefix],
        ),
        _kms_use("tracking", args),
    ]
    return PolicyDocument([replace(s, unused_in_demo_because=TRACKING_IN_CI) for s in statements])


def _push_image(args: PermissionsArgs) -> list[Statement]:
    """The main build pushes the serving image to the stack's repository, nothing else.
    Signing its digest is the release role's (the signing key lets only it sign)."""
    return [
        Statement(
            sid="PushServingImage",
            unused_in_demo_because=IMAGE_PUSH_IN_CI,
            actions=ECR_PUSH,
            resources=[args.ecr_repository_arn],
        ),
        Statement(
            sid="EcrLogin",
            unused_in_demo_because=IMAGE_PUSH_IN_CI,
            actions=["ecr:GetAuthorizationToken"],
            resources=["*"],
            wildcard_resource_reason=ECR_LOGIN_REASON,
        ),
    ]


def _release(args: PermissionsArgs, b: _Buckets) -> PolicyDocument:
    """Sign and register a main build's model; never approve it.

    The explicit denies hold even if another policy (a permissions boundary mistake, a
    managed policy attached by hand) would allow approving.
    """
    return PolicyDocument(
        [
            Statement(sid="SignManifests", actions=SIGN_ACTIONS, resources=[args.signing_key_arn]),
            Statement(
                sid="VerifyBeforeRegistering",
                actions=VERIFY_ACTIONS,
                resources=[args.signing_key_arn],
            ),
            Statement(
                sid="PublishModelsAndSignatures",
                actions=("s3:GetObject", "s3:PutObject"),
                resources=[b.models],
            ),
            _kms_use("release", args),
            Statement(
                sid="DescribeDataKey", actions=["kms:DescribeKey"], resources=[args.data_key_arn]
            ),
            *_register_pending(args),
        ]
    )


def _register_pending(args: PermissionsArgs) -> list[Statement]:
    """Read the stack's registry and add `PendingManualApproval` packages; never approve or
    update one. The explicit denies hold even if another policy (a permissions boundary
    mistake, a managed policy attached by hand) would allow approving."""
    return [
        Statement(
            sid="ReadRegistry",
            actions=READ_REGISTRY,
            resources=_packages(args),
        ),
        Statement(
            sid="RegisterPendingModels",
            actions=["sagemaker:CreateModelPackage"],
            resources=_packages(args),
            conditions=[Condition("StringEquals", "sagemaker:ModelApprovalStatus", [PENDING])],
        ),
        Statement(
            sid="NeverApprove",
            effect="Deny",
            actions=("sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage"),
            resources=["*"],
            conditions=[Condition("StringEquals", "sagemaker:ModelApprovalStatus", [APPROVED])],
        ),
        Statement(
            sid="NeverUpdatePackages",
            effect="Deny",
            actions=["sagemaker:UpdateModelPackage"],
            resources=["*"],
        ),
    ]


def _promote(args: PermissionsArgs, b: _Buckets) -> PolicyDocument:
    """Promote an approved package of the source stack (another account) into this one.

    Reads only the source's registry, its groups' released models and signatures (S3 in the
    source account only, `s3:ResourceAccount`), decrypts them only through S3, verifies
    only with the trusted signing keys; writes only this stack's `models/` and registers
    `PendingManualApproval` packages, never signing or approving. The source's bucket,
    data key and registry policies grant the same reads to this role by name.
    """
    source = args.promotion
    assert source is not None, "the promote role exists only with mlops:promotion"
    a = args.arns
    src = Arns(partition=a.partition, region=a.region, account_id=source.account_id)
    in_source = Condition("StringEquals", "s3:ResourceAccount", [source.account_id])
    return PolicyDocument(
        [
            Statement(
                sid="ReadSourceRegistry",
                actions=(
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:DescribeModelPackageGroup",
                ),
                resources=[
                    src.sagemaker("model-package-group", f"{source.prefix}-*"),
                    src.sagemaker("model-package", f"{source.prefix}-*"),
                ],
            ),
            Statement(
                sid="ReadSourceReleasedModels",
                actions=["s3:GetObject"],
                # The source bucket's name is Pulumi's (`<prefix>-artifacts-<suffix>`) and
                # lives in the source's state; the account condition pins whose bucket.
                resources=[
                    s3_objects(
                        a.partition,
                        f"{source.prefix}-artifacts-*",
                        f"{MODELS_PREFIX}{source.prefix}-",
                    )
                ],
                conditions=[in_source],
            ),
            Statement(
                sid="DecryptSourceModelsViaS3",
                actions=["kms:Decrypt"],
                # Which key S3 used is the source's choice; its key policy names this role.
                # Only for objects of the source's artifact bucket (S3 Bucket Keys: S3 sends
                # the bucket's ARN as the encryption context).
                resources=[src.service("kms", "key/*")],
                conditions=[
                    via_service(a.region, ["s3"]),
                    Condition("StringEquals", "kms:CallerAccount", [a.account_id]),
                    Condition(
                        "StringLike",
                        "kms:EncryptionContext:aws:s3:arn",
                        [s3_bucket(a.partition, f"{source.prefix}-artifacts-*")],
                    ),
                ],
            ),
            Statement(
                sid="VerifyWithTrustedSourceKeys",
                actions=VERIFY_ACTIONS,
                resources=list(source.trusted_signing_key_arns),
            ),
            Statement(
                sid="PublishPromotedModels",
                actions=("s3:GetObject", "s3:PutObject"),
                resources=[b.models],
            ),
            _kms_use("promote", args),
            Statement(
                sid="DescribeDataKey", actions=["kms:DescribeKey"], resources=[args.data_key_arn]
            ),
            *_register_pending(args),
        ]
    )


def _approve(args: PermissionsArgs) -> PolicyDocument:
    """Review and approve (or reject) the stack's packages; nothing else."""
    return PolicyDocument(
        [
            Statement(
                sid="ReviewPackages",
                actions=READ_REGISTRY,
                resources=_packages(args),
            ),
            Statement(
                sid="ApprovePackages",
                actions=["sagemaker:UpdateModelPackage"],
                resources=[args.arns.sagemaker("model-package", f"{args.prefix}-*")],
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
                sid="CreateIsolatedModels",  # the demo's emulated `pulumi up` uses it
                actions=["sagemaker:CreateModel"],
                resources=[sm("model")],
                conditions=[
                    Condition("Bool", "sagemaker:NetworkIsolation", ["true"]),
                    *_placement(args.network, "endpoint_security_group_id"),
                ],
            ),
            Statement(
                sid="CreateEncryptedEndpointConfigs",  # the demo's emulated `pulumi up` uses it
                actions=["sagemaker:CreateEndpointConfig"],
                resources=[sm("endpoint-config")],
                conditions=[Condition("ArnEquals", "sagemaker:VolumeKmsKey", [args.data_key_arn])],
            ),
            Statement(
                sid="ManageServing",  # the demo's `release verify --require-idle` uses it
                actions=(
                    "sagemaker:AddTags",
                    "sagemaker:CreateEndpoint",
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
                    *READ_REGISTRY,
                    "sagemaker:ListTags",
                ),
                resources=[sm("model-package-group"), sm("model-package")],
            ),
            Statement(
                sid="PassInferenceRole",  # the demo's emulated `pulumi up` uses it
                actions=["iam:PassRole"],
                resources=[args.roles["inference"].arn],
                conditions=[
                    Condition("StringEquals", "iam:PassedToService", ["sagemaker.amazonaws.com"])
                ],
            ),
            Statement(
                sid="ManageAlarms",
                unused_in_demo_because=PULUMI_UP,
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
                unused_in_demo_because=PULUMI_UP,
                actions=(
                    "application-autoscaling:DeleteScalingPolicy",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy",
                    "application-autoscaling:RegisterScalableTarget",
                ),
                resources=[a.service("application-autoscaling", "scalable-target/*")],
            ),
            Statement(
                sid="DescribeScalingAndZones",
                unused_in_demo_because=PULUMI_UP,
                actions=(
                    "application-autoscaling:DescribeScalableTargets",
                    "application-autoscaling:DescribeScalingPolicies",
                    # The program looks up the region's zones (get_availability_zones).
                    "ec2:DescribeAvailabilityZones",
                ),
                resources=["*"],
                wildcard_resource_reason="Describe calls have no resource-level permissions",
            ),
            Statement(
                sid="ShiftEndpointTraffic",
                unused_in_demo_because=PULUMI_UP,
                actions=["sagemaker:UpdateEndpointWeightsAndCapacities"],
                resources=[sm("endpoint")],
            ),
            Statement(
                sid="ManageAlarmTopic",
                unused_in_demo_because=PULUMI_UP,
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
                unused_in_demo_because=PULUMI_UP,
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
                unused_in_demo_because=PULUMI_UP,
                actions=["logs:DescribeLogGroups"],
                resources=["*"],
                wildcard_resource_reason="DescribeLogGroups has no resource-level permissions",
            ),
            Statement(
                sid="AutoscalingServiceLinkedRole",
                unused_in_demo_because=PULUMI_UP,
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
                # Promoted models carry the source stack's signature (mlops:promotion).
                resources=[
                    args.signing_key_arn,
                    *(args.promotion.trusted_signing_key_arns if args.promotion else ()),
                ],
            ),
            Statement(sid="ReadSignedModels", actions=["s3:GetObject"], resources=[b.models]),
            Statement(
                sid="GrantKeyToEndpoints",
                unused_in_demo_because=PULUMI_UP,
                actions=["kms:CreateGrant"],
                resources=[args.data_key_arn],
                conditions=[Condition("Bool", "kms:GrantIsForAWSResource", ["true"])],
            ),
            _kms_use("deploy", args),
            *_state(args, "Deploy", write=True),
        ]
    )


def _state(args: PermissionsArgs, sid: str, write: bool) -> list[Statement]:
    """`pulumi preview` (read) or `pulumi up` (write) of this stack's own state only."""
    if args.state_bucket is None:
        return []
    a = args.arns
    statements = state_statements(
        sid,
        a.partition,
        args.state_bucket,
        state_key_arns(a.partition, a.region, a.account_id),
        stacks=[args.stack],
        write=write,
    )
    reason = PULUMI_UP if write else PULUMI_PREVIEW
    return [replace(s, unused_in_demo_because=reason) for s in statements]


def _monitor(args: PermissionsArgs, b: _Buckets) -> PolicyDocument:
    """The scheduled drift and quality jobs: read what endpoints captured, the training
    reference, the ground-truth labels and the served model's registered baseline; write
    only its own state (marker, job manifests and reports) and its metrics
    (`ml.drift.window`). For a window that outgrows a runner it runs the comparison as a
    SageMaker Processing job with itself as the job's role (`ml.drift.processing`):
    isolated, encrypted with the data key, in the stack's subnets."""
    a = args.arns
    state = s3_objects(a.partition, args.capture_bucket, MONITOR_STATE_PREFIX)
    jobs = a.sagemaker("processing-job", f"{args.prefix}-*")
    return PolicyDocument(
        [
            Statement(
                sid="ListCaptureAndData", actions=["s3:ListBucket"], resources=[b.capture, b.data]
            ),
            Statement(
                sid="ReadCapturedRequests",
                actions=["s3:GetObject"],
                resources=[b.captured, b.datasets],
            ),
            Statement(
                sid="ReadGroundTruth",
                actions=["s3:GetObject"],
                resources=[b.ground_truth],
                unused_in_demo_because=QUALITY_MONITOR,
            ),
            Statement(
                # `mlops quality`: endpoint -> configuration -> model -> package metrics
                sid="ReadServedBaseline",
                actions=(
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:DescribeEndpointConfig",
                    "sagemaker:DescribeModel",
                    "sagemaker:ListTags",
                    "sagemaker:DescribeModelPackage",
                    "sagemaker:DescribeModelPackageGroup",
                ),
                resources=[
                    a.sagemaker("endpoint", f"{args.prefix}-*"),
                    a.sagemaker("endpoint-config", f"{args.prefix}-*"),
                    a.sagemaker("model", f"{args.prefix}-*"),
                    *_packages(args),
                ],
                unused_in_demo_because=QUALITY_MONITOR,
            ),
            Statement(
                # the marker, the job manifests and the processing jobs' reports
                sid="ReadAndAdvanceMonitorState",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[state],
            ),
            Statement(
                sid="PublishMonitoringMetrics",
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions=[
                    Condition("StringEquals", "cloudwatch:namespace", [MONITORING_NAMESPACE])
                ],
                wildcard_resource_reason="PutMetricData has no resource type; scoped by namespace",
            ),
            _kms_use("monitor", args),
            Statement(
                sid="CreateIsolatedEncryptedProcessingJobs",
                unused_in_demo_because=DRIFT_ON_SAGEMAKER,
                actions=["sagemaker:CreateProcessingJob"],
                resources=[jobs],
                conditions=training_job_conditions(args),
            ),
            Statement(
                sid="FollowProcessingJobs",
                unused_in_demo_because=DRIFT_ON_SAGEMAKER,
                actions=("sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob"),
                resources=[jobs],
            ),
            Statement(
                sid="PassItselfToProcessingJobs",
                unused_in_demo_because=DRIFT_ON_SAGEMAKER,
                actions=["iam:PassRole"],
                resources=[args.roles["monitor"].arn],
                conditions=[
                    Condition("StringEquals", "iam:PassedToService", ["sagemaker.amazonaws.com"])
                ],
            ),
            *_platform(args, "WriteProcessingLogs", PROCESSING_LOG_GROUP, metrics=False),
        ]
    )


def _kubernetes_fetch(args: PermissionsArgs) -> PolicyDocument:
    """The serving pods' init container (`mlops model fetch`): resolve one group's version
    in the registry and read that group's signed artifacts; no other group or prefix, no
    writes, and no KMS call of its own (S3 decrypts for it)."""
    group = args.kubernetes_model_group
    if group is None:
        raise ValueError("the kubernetes role needs the group its pods serve")
    a = args.arns
    statements = [
        Statement(
            sid="ResolveServedVersion",
            actions=["sagemaker:DescribeModelPackageGroup"],
            resources=[a.sagemaker("model-package-group", group)],
        ),
        Statement(
            sid="ReadServedPackages",
            actions=["sagemaker:DescribeModelPackage"],
            resources=[a.sagemaker("model-package", f"{group}/*")],
        ),
        Statement(
            sid="ReadServedArtifacts",
            actions=["s3:GetObject"],
            resources=[s3_objects(a.partition, args.artifact_bucket, group_models_prefix(group))],
        ),
        _kms_use("kubernetes", args),
    ]
    return PolicyDocument([replace(s, unused_in_demo_because=KUBERNETES_FETCH) for s in statements])
