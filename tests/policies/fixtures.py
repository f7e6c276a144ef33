"""Compliant synthetic resources, shaped like the rendered graph (camelCase inputs).

Each builder returns a dict of named parts so a test can replace or drop one part and
watch the policy react. `test_fixture_keys_match_rendered_graph` keeps the key casing
honest against the real program's graph.
"""

from __future__ import annotations

import json
from typing import Any

from tests.policies.harness import Res

ACCOUNT = "123456789012"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
KEY_ARN = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/11111111-2222-4333-8444-555555555555"
LOG_BUCKET = "mlops-prod-logs-0000000"


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def parts(d: dict[str, Res | None], **changes: Res | None) -> list[Res]:
    """The parts of a fixture with some replaced (a Res) or dropped (None)."""
    merged = {**d, **changes}
    return [r for r in merged.values() if r is not None]


# -- S3 ----------------------------------------------------------------------------------
def tls_deny(bucket: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": ["s3:*"],
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def kms_denies(bucket: str) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "DenyUploadsWithoutSseKms",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:PutObject"],
            "Resource": [f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
        },
        {
            "Sid": "DenyUploadsWithOtherKmsKey",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:PutObject"],
            "Resource": [f"arn:aws:s3:::{bucket}/*"],
            "Condition": {
                "ArnNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN}
            },
        },
    ]


def secure_bucket(role: str = "data", env: str = "prod", lock: bool = False) -> dict[str, Res]:
    """A bucket as SecureBucket declares it: every S3 control satisfied."""
    name = f"mlops-{env}-{role}"
    physical = f"{name}-abc1234"
    ref = {"bucket": (name,)}
    bucket_props: dict[str, Any] = {"forceDestroy": False, "tags": {"environment": env}}
    if lock:
        bucket_props["objectLockEnabled"] = True
    d: dict[str, Res] = {
        "bucket": Res(
            "aws:s3/bucket:Bucket", name, bucket_props, id=physical, arn=f"arn:aws:s3:::{physical}"
        ),
        "encryption": Res(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            f"{name}-encryption",
            {
                "bucket": physical,
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyId": KEY_ARN,
                        },
                        "bucketKeyEnabled": True,
                    }
                ],
            },
            refs=ref,
        ),
        "versioning": Res(
            "aws:s3/bucketVersioning:BucketVersioning",
            f"{name}-versioning",
            {"bucket": physical, "versioningConfiguration": {"status": "Enabled"}},
            refs=ref,
        ),
        "public_access": Res(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            f"{name}-public-access",
            {
                "bucket": physical,
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
            refs=ref,
        ),
        "ownership": Res(
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            f"{name}-ownership",
            {"bucket": physical, "rule": {"objectOwnership": "BucketOwnerEnforced"}},
            refs=ref,
        ),
        "policy": Res(
            "aws:s3/bucketPolicy:BucketPolicy",
            f"{name}-policy",
            {"bucket": physical, "policy": doc(tls_deny(physical), *kms_denies(physical))},
            refs=ref,
        ),
        "logging": Res(
            "aws:s3/bucketLogging:BucketLogging",
            f"{name}-logging",
            {"bucket": physical, "targetBucket": LOG_BUCKET, "targetPrefix": f"{physical}/"},
            refs=ref,
        ),
        "lifecycle": Res(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            f"{name}-lifecycle",
            {
                "bucket": physical,
                "rules": [
                    {
                        "id": "expire-noncurrent-versions",
                        "status": "Enabled",
                        "filter": {},
                        "noncurrentVersionExpiration": {"noncurrentDays": 90.0},
                    },
                    {
                        "id": "abort-incomplete-multipart-uploads",
                        "status": "Enabled",
                        "filter": {},
                        "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7.0},
                    },
                ],
            },
            refs=ref,
        ),
    }
    if lock:
        d["object_lock"] = Res(
            "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
            f"{name}-object-lock",
            {
                "bucket": physical,
                "objectLockEnabled": "Enabled",
                "rule": {"defaultRetention": {"mode": "COMPLIANCE", "days": 365.0}},
            },
            refs=ref,
        )
    return d


def changed(res: Res, **props: Any) -> Res:
    return res.with_props(**props)


# -- KMS ---------------------------------------------------------------------------------
ADMIN_ACTIONS = ["kms:DescribeKey", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKey"]


def admin_statement() -> dict[str, Any]:
    return {
        "Sid": "AccountRootAdministers",
        "Effect": "Allow",
        "Principal": {"AWS": [ROOT]},
        "Action": ADMIN_ACTIONS,
        "Resource": ["*"],
    }


def data_key(**props: Any) -> Res:
    base = {
        "description": "data",
        "keyUsage": "ENCRYPT_DECRYPT",
        "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "enableKeyRotation": True,
        "rotationPeriodInDays": 365.0,
        "deletionWindowInDays": 30.0,
        "policy": doc(
            admin_statement(),
            {
                "Sid": "WorkloadRolesUseKey",
                "Effect": "Allow",
                "Principal": {"AWS": [role_arn("mlops-prod-training")]},
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": ["*"],
            },
        ),
    }
    return Res("aws:kms/key:Key", "mlops-prod-data", {**base, **props}, id="k-data", arn=KEY_ARN)


def signing_statements(signers: list[str]) -> list[dict[str, Any]]:
    return [
        admin_statement(),
        {
            "Sid": "ReleaseSignerSigns",
            "Effect": "Allow",
            "Principal": {"AWS": signers},
            "Action": ["kms:Sign"],
            "Resource": ["*"],
            "Condition": {"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_256"}},
        },
        {
            "Sid": "DeployersVerify",
            "Effect": "Allow",
            "Principal": {"AWS": [role_arn("mlops-prod-gh-deploy")]},
            "Action": ["kms:DescribeKey", "kms:GetPublicKey", "kms:Verify"],
            "Resource": ["*"],
        },
    ]


def signing_key(**props: Any) -> Res:
    base = {
        "description": "signing",
        "keyUsage": "SIGN_VERIFY",
        "customerMasterKeySpec": "ECC_NIST_P256",
        "enableKeyRotation": False,
        "deletionWindowInDays": 30.0,
        "policy": doc(*signing_statements([role_arn("mlops-prod-gh-release")])),
    }
    return Res("aws:kms/key:Key", "mlops-prod-signing", {**base, **props}, id="k-sign")


# -- IAM ---------------------------------------------------------------------------------
def role_policy(*statements: dict[str, Any], name: str = "mlops-prod-training") -> Res:
    return Res(
        "aws:iam/rolePolicy:RolePolicy",
        name,
        {"role": f"{name}-role", "policy": doc(*statements)},
    )


def allow(sid: str, actions: list[str], resources: list[str], **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


GITHUB = "token.actions.githubusercontent.com"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB}"


def github_role(
    conditions: dict[str, Any] | None = None, name: str = "mlops-prod-gh-deploy"
) -> Res:
    if conditions is None:
        conditions = {
            "StringEquals": {
                f"{GITHUB}:aud": "sts.amazonaws.com",
                f"{GITHUB}:sub": "repo:acme/mlops-gitops:environment:prod",
            }
        }
    trust = doc(
        {
            "Sid": "GitHubActionsAssume",
            "Effect": "Allow",
            "Principal": {"Federated": [OIDC_ARN]},
            "Action": ["sts:AssumeRoleWithWebIdentity"],
            "Condition": conditions,
        }
    )
    return Res(
        "aws:iam/role:Role",
        name,
        {"description": "deploy", "assumeRolePolicy": trust, "maxSessionDuration": 3600.0},
        arn=role_arn(name),
    )


def service_role(conditions: dict[str, Any] | None = None) -> Res:
    statement: dict[str, Any] = {
        "Sid": "ServiceAssumes",
        "Effect": "Allow",
        "Principal": {"Service": ["sagemaker.amazonaws.com"]},
        "Action": ["sts:AssumeRole"],
    }
    if conditions is not False:
        statement["Condition"] = conditions or {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    return Res(
        "aws:iam/role:Role",
        "mlops-prod-training",
        {"description": "training", "assumeRolePolicy": doc(statement)},
    )


# -- SageMaker ---------------------------------------------------------------------------
ALARMS = ("mlops-prod-m-model-latency-p99", "mlops-prod-m-invocation-5xx-errors")
TOPIC_ARN = f"arn:aws:sns:eu-west-1:{ACCOUNT}:mlops-prod-serving-alarms"


PACKAGE_GROUP_ARN = "arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/m"


def serving_neighbours() -> list[Res]:
    """What a model and endpoint config refer to in their stack: the package group, the
    inference role and the capture bucket."""
    return [
        Res(
            "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
            "mlops-prod-m-group",
            {"modelPackageGroupName": "m"},
            id="m",
            arn=PACKAGE_GROUP_ARN,
        ),
        Res(
            "aws:iam/role:Role",
            "mlops-prod-inference",
            {"assumeRolePolicy": "{}"},
            arn=role_arn("mlops-prod-inference"),
        ),
        Res("aws:s3/bucket:Bucket", "mlops-prod-capture", {}, id="mlops-prod-capture"),
    ]


def sagemaker_model(**props: Any) -> Res:
    base = {
        "executionRoleArn": role_arn("mlops-prod-inference"),
        "enableNetworkIsolation": True,
        "primaryContainer": {
            "modelPackageName": f"{PACKAGE_GROUP_ARN.replace('-group/', '/')}/1",
            "environment": {
                "MLOPS_REQUIRE_SIGNATURE": "true",
                "MLOPS_SIGNING_PUBLIC_KEY_PEM": "-----BEGIN PUBLIC KEY-----\nMFkw\n"
                "-----END PUBLIC KEY-----\n",
            },
        },
        "vpcConfig": {"subnets": ["subnet-a", "subnet-b"], "securityGroupIds": ["sg-endpoint"]},
        "tags": {"environment": "prod"},
    }
    return Res("aws:sagemaker/model:Model", "mlops-prod-m-model", {**base, **props}, id="model-1")


def endpoint_config(**props: Any) -> Res:
    base = {
        "kmsKeyArn": KEY_ARN,
        "productionVariants": [
            {
                "variantName": "primary",
                "modelName": "model-1",
                "instanceType": "ml.m5.xlarge",
                "initialInstanceCount": 2.0,
            }
        ],
        "dataCaptureConfig": {
            "enableCapture": True,
            "initialSamplingPercentage": 100.0,
            "destinationS3Uri": "s3://mlops-prod-capture/datacapture/",
            "kmsKeyId": KEY_ARN,
            "captureOptions": [{"captureMode": "Input"}, {"captureMode": "Output"}],
        },
        "tags": {"environment": "prod"},
    }
    return Res(
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
        "mlops-prod-m-config",
        {**base, **props},
        id="config-1",
    )


def endpoint(**props: Any) -> Res:
    base = {
        "name": "mlops-prod-m",
        "endpointConfigName": "config-1",
        "deploymentConfig": {
            "blueGreenUpdatePolicy": {
                "trafficRoutingConfiguration": {
                    "type": "CANARY",
                    "waitIntervalInSeconds": 600.0,
                    "canarySize": {"type": "CAPACITY_PERCENT", "value": 10.0},
                },
                "terminationWaitInSeconds": 600.0,
                "maximumExecutionTimeoutInSeconds": 3600.0,
            },
            "autoRollbackConfiguration": {"alarms": [{"alarmName": a} for a in ALARMS]},
        },
        "tags": {"environment": "prod"},
    }
    return Res("aws:sagemaker/endpoint:Endpoint", "mlops-prod-m-endpoint", {**base, **props})


def alarm(name: str, **props: Any) -> Res:
    base = {
        "name": name,
        "alarmActions": [TOPIC_ARN],
        "okActions": [TOPIC_ARN],
        "comparisonOperator": "GreaterThanThreshold",
        "evaluationPeriods": 2.0,
        "threshold": 1.0,
    }
    return Res("aws:cloudwatch/metricAlarm:MetricAlarm", name, {**base, **props}, id=name)


def topic(**props: Any) -> Res:
    base = {"name": "mlops-prod-serving-alarms", "kmsMasterKeyId": KEY_ARN}
    return Res(
        "aws:sns/topic:Topic", "mlops-prod-alarms", {**base, **props}, id=TOPIC_ARN, arn=TOPIC_ARN
    )


# -- network -----------------------------------------------------------------------------
def vpc() -> Res:
    return Res("aws:ec2/vpc:Vpc", "mlops-prod-vpc", {"cidrBlock": "10.44.0.0/16"}, id="vpc-1")


def flow_log(**props: Any) -> Res:
    base = {"vpcId": "vpc-1", "trafficType": "ALL", "logDestinationType": "cloud-watch-logs"}
    return Res("aws:ec2/flowLog:FlowLog", "mlops-prod-flow-log", {**base, **props})


def default_sg(**props: Any) -> Res:
    base = {"vpcId": "vpc-1", "ingress": [], "egress": []}
    return Res(
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "mlops-prod-default-sg",
        {**base, **props},
    )


def security_group(ingress: list[dict] | None = None, egress: list[dict] | None = None) -> Res:
    rule = {
        "protocol": "tcp",
        "fromPort": 443.0,
        "toPort": 443.0,
        "cidrBlocks": ["10.44.0.0/16"],
        "description": "HTTPS inside the VPC",
    }
    return Res(
        "aws:ec2/securityGroup:SecurityGroup",
        "mlops-prod-endpoints-sg",
        {
            "vpcId": "vpc-1",
            "description": "endpoints",
            "ingress": [rule] if ingress is None else ingress,
            "egress": [] if egress is None else egress,
        },
    )


def subnet(name: str = "subnet-a", public: bool = False) -> Res:
    return Res(
        "aws:ec2/subnet:Subnet",
        f"mlops-prod-{name}",
        {"vpcId": "vpc-1", "cidrBlock": "10.44.0.0/20", "mapPublicIpOnLaunch": public},
        id=name,
    )


# -- CloudTrail --------------------------------------------------------------------------
TRAIL_LOG_GROUP = "/mlops-prod/cloudtrail"
TRAIL_LOG_GROUP_ARN = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:{TRAIL_LOG_GROUP}"


def trail_delivery(**group_props: Any) -> list[Res]:
    """The trail's CloudWatch Logs group (CMK-encrypted) and the role only CloudTrail assumes."""
    group = {"name": TRAIL_LOG_GROUP, "kmsKeyId": KEY_ARN, "retentionInDays": 365.0}
    trust = {
        "Sid": "CloudTrailAssume",
        "Effect": "Allow",
        "Principal": {"Service": ["cloudtrail.amazonaws.com"]},
        "Action": ["sts:AssumeRole"],
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    }
    return [
        Res(
            "aws:cloudwatch/logGroup:LogGroup",
            "mlops-prod-trail-events",
            {k: v for k, v in {**group, **group_props}.items() if v is not None},
            id=TRAIL_LOG_GROUP,
            arn=TRAIL_LOG_GROUP_ARN,
        ),
        Res(
            "aws:iam/role:Role",
            "mlops-prod-trail-delivery",
            {"assumeRolePolicy": doc(trust)},
            arn=role_arn("mlops-prod-trail-delivery"),
        ),
    ]


def trail(**props: Any) -> Res:
    base = {
        "s3BucketName": LOG_BUCKET,
        "s3KeyPrefix": "cloudtrail",
        "isMultiRegionTrail": True,
        "includeGlobalServiceEvents": True,
        "enableLogFileValidation": True,
        "enableLogging": True,
        "kmsKeyId": KEY_ARN,
        "cloudWatchLogsGroupArn": f"{TRAIL_LOG_GROUP_ARN}:*",
        "cloudWatchLogsRoleArn": role_arn("mlops-prod-trail-delivery"),
        "eventSelectors": [
            {
                "readWriteType": "All",
                "includeManagementEvents": True,
                "dataResources": [
                    {
                        "type": "AWS::S3::Object",
                        "values": ["arn:aws:s3:::mlops-prod-artifacts-abc1234/"],
                    }
                ],
            }
        ],
    }
    return Res("aws:cloudtrail/trail:Trail", "mlops-prod-trail", {**base, **props})


# -- Kubernetes --------------------------------------------------------------------------
LABELS = {"app.kubernetes.io/name": "server", "app.kubernetes.io/instance": "m"}


def container(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "server",
        "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/server:1",
        "ports": [{"name": "http", "containerPort": 8080.0}],
        "resources": {
            "requests": {"cpu": "500m", "memory": "512Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "readinessProbe": {"httpGet": {"path": "/ping", "port": "http"}},
        "livenessProbe": {"httpGet": {"path": "/ping", "port": "http"}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001.0,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def deployment(containers: list[dict] | None = None, **pod: Any) -> Res:
    spec = {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": containers if containers is not None else [container()],
        **pod,
    }
    return Res(
        "kubernetes:apps/v1:Deployment",
        "mlops-prod-k8s-deployment",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "m", "namespace": "mlops-serving", "labels": LABELS},
            "spec": {
                "selector": {"matchLabels": LABELS},
                "template": {"metadata": {"labels": LABELS}, "spec": spec},
            },
        },
    )


def namespace(labels: dict[str, str] | None = None) -> Res:
    if labels is None:
        labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    return Res(
        "kubernetes:core/v1:Namespace",
        "mlops-prod-k8s-namespace",
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "mlops-serving", "labels": labels},
        },
    )


def network_policy(spec: dict[str, Any] | None = None, namespace: str = "mlops-serving") -> Res:
    if spec is None:
        spec = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    return Res(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "mlops-prod-k8s-default-deny",
        {"metadata": {"name": "default-deny-all", "namespace": namespace}, "spec": spec},
    )


def pdb(spec: dict[str, Any] | None = None) -> Res:
    if spec is None:
        spec = {"maxUnavailable": 1.0, "selector": {"matchLabels": LABELS}}
    return Res(
        "kubernetes:policy/v1:PodDisruptionBudget",
        "mlops-prod-k8s-disruption-budget",
        {"metadata": {"name": "m", "namespace": "mlops-serving"}, "spec": spec},
    )


def hpa(**spec: Any) -> Res:
    base = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "m"},
        "minReplicas": 2.0,
        "maxReplicas": 6.0,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 65.0},
                },
            }
        ],
    }
    return Res(
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "mlops-prod-k8s-autoscaler",
        {"metadata": {"name": "m", "namespace": "mlops-serving"}, "spec": {**base, **spec}},
    )
