"""The typed stack configuration: everything a `Pulumi.<stack>.yaml` may hold.

One strict schema validated once, before any resource is declared, so a typo or a
bad value is an error that names the key, the value and what is allowed, never a
silent default. Keys are camelCase in the stack file, as Pulumi users write them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from common import minimums
from common.errors import MlopsError
from common.files import read_yaml
from common.validation import one_line
from infra.contracts import (
    CAPTURE_RETENTION_MAX_DAYS,
    ROLLBACK_ALARMS,
    Alarm,
    approval_environment,
    promote_role_name,
    promotion_environment,
    signing_environment,
)

PROJECT = "mlops"
STACKS = ("dev", "staging", "prod")
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
    2557, 2922, 3288, 3653,
)  # fmt: skip
NAME = r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$"


def log_retention(value: int) -> int:
    """A CloudWatch retention period the pack's log retention rule accepts."""
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(f"must be one of CloudWatch's retention periods {LOG_RETENTION_DAYS}")
    if value < minimums.LOG_RETENTION_DAYS:
        raise ValueError(
            f"must be at least {minimums.LOG_RETENTION_DAYS} days: the pack's "
            "cloudwatch-log-group-retention fails shorter retention"
        )
    return value


PRIVATE_SUBNET_PREFIX = 20
"""Each private subnet is a /20 (4091 usable addresses), one per availability zone: the
network component carves them from the VPC CIDR in order."""
# AWS allows 50 tags per resource; the program adds project, environment and owner to every
# resource and model and model-version to the serving ones, leaving 45 for `mlops:tags`.
MAX_TAGS_PER_RESOURCE = 50
PROGRAM_TAGS = 5


class ConfigError(MlopsError):
    """A stack file that cannot be deployed; the message is one line for the user."""


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class GitHubConfig(_Model):
    """Who may assume the CI roles: one repository, pinned by OIDC `sub`."""

    org: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")]
    repo: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,100}$")]
    deploy_environment: Annotated[str, Field(min_length=1, max_length=255)]
    """GitHub environment whose jobs may assume the deploy role (protected in prod)."""
    signing_environment: Annotated[str, Field(min_length=1, max_length=255)]
    """GitHub environment whose jobs may sign and register; `model-signing-<env>` when the
    stack file leaves it out (filled in by `StackConfig`), so no two stacks share a signer."""
    approval_environment: Annotated[str, Field(min_length=1, max_length=255)]
    """GitHub environment (with required reviewers) whose jobs may approve model packages;
    `model-approval-<env>` when the stack file leaves it out."""
    promotion_environment: Annotated[str, Field(min_length=1, max_length=255)]
    """GitHub environment whose jobs may promote packages into this stack (`gh-promote`, only
    in a stack with `mlops:promotion`); `model-promotion-<env>` when left out."""
    oidc_provider_arn: (
        Annotated[
            str,
            Field(
                pattern=r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/token\.actions\.githubusercontent\.com$"
            ),
        ]
        | None
    ) = None
    """The account's GitHub OIDC provider (output `oidcProviderArn` of infra/bootstrap); by
    default the one the bootstrap declares in the stack's own account."""
    train_on_pull_requests: bool = True
    """Whether pull-request jobs may train (the `gh-train` and `training-pr` roles exist only
    then); keep it false in prod."""

    def subject(self, qualifier: str) -> str:
        """The OIDC `sub` GitHub issues for this repository, e.g. `repo:O/R:pull_request`."""
        return f"repo:{self.org}/{self.repo}:{qualifier}"

    @property
    def signing_subject(self) -> str:
        return self.subject(f"environment:{self.signing_environment}")

    @property
    def approval_subject(self) -> str:
        return self.subject(f"environment:{self.approval_environment}")

    @property
    def promotion_subject(self) -> str:
        return self.subject(f"environment:{self.promotion_environment}")


class KmsConfig(_Model):
    deletion_window_days: int = minimums.KMS_DELETION_WINDOW_DAYS
    signing_key_spec: Literal["ECC_NIST_P256", "ECC_NIST_P384"] = "ECC_NIST_P256"

    @field_validator("deletion_window_days")
    @classmethod
    def _window(cls, value: int) -> int:
        if not minimums.KMS_DELETION_WINDOW_DAYS <= value <= 30:
            raise ValueError(
                f"must be at least {minimums.KMS_DELETION_WINDOW_DAYS} days (the pack's "
                "kms-key-deletion-window-minimum fails shorter windows), at most 30 (AWS's limit)"
            )
        return value


class ObjectLockConfig(_Model):
    enabled: bool = False
    mode: Literal["GOVERNANCE", "COMPLIANCE"] = minimums.OBJECT_LOCK_MODE
    """GOVERNANCE only outside prod: there s3:BypassGovernanceRetention can lift it."""
    retention_days: Annotated[int, Field(ge=1, le=36500)] = minimums.OBJECT_LOCK_RETENTION_DAYS


class BucketConfig(_Model):
    noncurrent_version_expiration_days: Annotated[int, Field(ge=1, le=3650)] = 90
    abort_incomplete_multipart_days: Annotated[int, Field(ge=1, le=30)] = 7
    access_log_retention_days: Annotated[int, Field(ge=90, le=3650)] = 365
    force_destroy: bool = False
    """Allow `pulumi destroy` to empty buckets; only sensible in dev."""
    artifact_object_lock: ObjectLockConfig = ObjectLockConfig()
    capture_retention_days: Annotated[int, Field(ge=1, le=3650)] = 90
    """Days the capture bucket keeps what endpoints captured (every request and response)
    and its ground-truth labels; at most `CAPTURE_RETENTION_MAX_DAYS` in prod."""


class NetworkConfig(_Model):
    enabled: bool = False
    cidr_block: str = "10.42.0.0/16"
    availability_zone_count: Annotated[int, Field(ge=2, le=3)] = 2
    flow_log_retention_days: int = 365

    @field_validator("cidr_block")
    @classmethod
    def _cidr(cls, value: str) -> str:
        net = ipaddress.ip_network(value, strict=True)
        if not net.is_private or not 16 <= net.prefixlen <= 20:
            raise ValueError("must be a private IPv4 CIDR between /16 and /20")
        return value

    @field_validator("flow_log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return log_retention(value)

    @model_validator(mode="after")
    def _room_for_one_subnet_per_zone(self) -> NetworkConfig:
        """Checked here, not at render: the component would run out of /20s (IndexError)."""
        prefix = ipaddress.ip_network(self.cidr_block).prefixlen
        room = 2 ** (PRIVATE_SUBNET_PREFIX - prefix)
        if room < self.availability_zone_count:
            needed = PRIVATE_SUBNET_PREFIX - (self.availability_zone_count - 1).bit_length()
            raise ValueError(
                f"cidrBlock {self.cidr_block} holds {room} private /{PRIVATE_SUBNET_PREFIX} "
                f"subnet(s) but availabilityZoneCount is {self.availability_zone_count} (one "
                f"subnet per zone): use a /{needed} or larger, or fewer zones"
            )
        return self


class AuditTrailConfig(_Model):
    enabled: bool = False
    log_retention_days: Annotated[int, Field(ge=minimums.LOG_RETENTION_DAYS, le=3653)] = (
        minimums.LOG_RETENTION_DAYS
    )
    cloudwatch_log_retention_days: int = minimums.LOG_RETENTION_DAYS
    """Retention of the trail's CloudWatch Logs copy (the CIS alarms read it); the S3 copy
    keeps `logRetentionDays`. A CloudWatch period of at least 365 days."""

    @field_validator("cloudwatch_log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS or value < minimums.LOG_RETENTION_DAYS:
            allowed = tuple(d for d in LOG_RETENTION_DAYS if d >= minimums.LOG_RETENTION_DAYS)
            raise ValueError(f"must be one of CloudWatch's retention periods {allowed}")
        return value


EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"


class SlackAlertsConfig(_Model):
    """An AWS Chatbot Slack channel: the workspace must be authorised in the Chatbot console
    once (by hand: it is an OAuth consent in Slack) before `pulumi up`."""

    workspace_id: Annotated[str, Field(pattern=r"^T[A-Z0-9]{8,20}$")]
    """The Slack workspace (team) id, `T...`, as the Chatbot console shows it."""
    channel_id: Annotated[str, Field(pattern=r"^[CG][A-Z0-9]{8,20}$")]
    """The channel id, `C...` (or `G...` for a private channel): channel details in Slack."""


class AlertsConfig(_Model):
    """Who every alarm topic of the stack notifies (docs/alerts.md)."""

    emails: tuple[Annotated[str, Field(pattern=EMAIL, max_length=254)], ...] = ()
    """Addresses subscribed by email; each must confirm the subscription AWS mails it."""
    webhooks: tuple[Annotated[str, Field(max_length=2048)], ...] = ()
    """HTTPS endpoints SNS posts each notification to (PagerDuty, Opsgenie, ...)."""
    slack: SlackAlertsConfig | None = None
    """A Slack channel that gets the alarms through AWS Chatbot."""

    @field_validator("webhooks")
    @classmethod
    def _https_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not re.match(r"^https://[A-Za-z0-9.-]+(:\d+)?(/\S*)?$", url):
                raise ValueError(
                    f"{url} is not an https:// URL: SNS would post alarms unencrypted over "
                    "http; give the endpoint's https:// address"
                )
        return value

    @property
    def destinations(self) -> int:
        return len(self.emails) + len(self.webhooks) + (self.slack is not None)

    def placeholders(self) -> list[str]:
        """Destinations still at the shipped examples (RFC 2606 domains, zero Slack ids)."""
        example = re.compile(r"(@|://)([a-z0-9-]+\.)*example\.(com|org|net)([:/]|$)")
        found = [d for d in (*self.emails, *self.webhooks) if example.search(d.lower())]
        if self.slack and "0" * 8 in self.slack.workspace_id + self.slack.channel_id:
            found.append(f"slack {self.slack.workspace_id}/{self.slack.channel_id}")
        return found


class TrackingConfig(_Model):
    """The stack's SageMaker managed MLflow tracking server (docs/tracking.md)."""

    enabled: bool = True
    """Training runs of CI log to it; off: they log to a local store in the job's build/."""
    size: Literal["Small", "Medium", "Large"] = "Small"
    """AWS's sizes by users and logging volume; Small suits a team's CI."""
    weekly_maintenance_window_start: Annotated[
        str, Field(pattern=r"^(MON|TUE|WED|THU|FRI|SAT|SUN):([01]\d|2[0-3]):[0-5]\d$")
    ] = "TUE:03:30"
    """When AWS may patch the server (UTC, `DDD:HH:MM`)."""


POLICY_ARN = r"^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/[A-Za-z0-9+=,.@_/-]+$"
# A named IAM user or role; never an account root (`:root`), which would let every
# identity of that account that IAM allows assume the role.
PrincipalArn = Annotated[
    str,
    Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:(user|role)/[A-Za-z0-9+=,.@_/-]+$"),
]


class IamConfig(_Model):
    auditor_principal_arns: Annotated[tuple[PrincipalArn, ...], Field(min_length=1)]
    """Named IAM users or roles that may assume the auditor role, with MFA (at least one)."""
    approver_principal_arns: tuple[PrincipalArn, ...] = ()
    """Named IAM users or roles that may assume the approver role with MFA, besides the
    approval environment's GitHub jobs."""
    permissions_boundary_arn: Annotated[str, Field(pattern=POLICY_ARN)] | None = None
    """A managed policy ARN (`arn:aws:iam::<account>:policy/<name>`); IAM refuses anything
    else only at apply time."""


# AWS tag rules (every service this stack tags): keys 1-128 and values 0-256 characters of
# letters, digits, spaces and `_ . : / = + - @`; the `aws:` prefix is reserved for AWS.
TAG_CHARS = r"^[\w .:/=+@-]*$"


AccountId = Annotated[str, Field(pattern=r"^\d{12}$")]
SigningKeyArn = Annotated[
    str,
    Field(pattern=r"^arn:aws[a-z-]*:kms:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:key/[A-Za-z0-9-]{1,64}$"),
]
StackName = Literal["dev", "staging", "prod"]


class PromotionConfig(_Model):
    """This stack takes its models from another stack (its own AWS account), by promotion.

    `mlops promote` (role `gh-promote`) copies an approved package of `fromStack` into this
    stack's bucket and registry; this stack's verification then trusts the listed keys too.
    """

    from_stack: StackName
    """The stack whose approved packages are promoted here (e.g. staging)."""
    source_account_id: AccountId
    """The AWS account of `fromStack`: the only account whose bucket, key and registry the
    promoting role may read."""
    trusted_signing_key_arns: Annotated[tuple[SigningKeyArn, ...], Field(min_length=1)]
    """KMS signing keys of `fromStack` whose signatures this stack accepts (output
    `signingKeyArn` of the source stack); a promoted package signed by another is refused."""

    @model_validator(mode="after")
    def _keys_in_source_account(self) -> PromotionConfig:
        for arn in self.trusted_signing_key_arns:
            if arn.split(":")[4] != self.source_account_id:
                raise ValueError(
                    f"trustedSigningKeyArns: {arn} is not in sourceAccountId "
                    f"{self.source_account_id}; list the source stack's signingKeyArn output"
                )
        return self


class PromotionTargetConfig(_Model):
    """A stack (in another AWS account) that promotes this stack's approved packages."""

    stack: StackName
    account_id: AccountId
    """Its AWS account: its `gh-promote` role there may read this stack's released models."""


def promoter_role_arns(
    targets: Sequence[PromotionTargetConfig] | Sequence[Mapping[str, Any]], partition: str = "aws"
) -> list[str]:
    """`arn:aws:iam::<account>:role/mlops-<stack>-gh-promote` per `promotesTo` entry (parsed,
    or raw as the Pulumi config holds it): the role the program grants, the policy admits."""
    parsed = [
        t if isinstance(t, PromotionTargetConfig) else PromotionTargetConfig.model_validate(t)
        for t in targets
    ]
    return [
        f"arn:{partition}:iam::{t.account_id}:role/{promote_role_name(t.stack)}" for t in parsed
    ]


class TrafficRoutingConfig(_Model):
    """SageMaker blue/green traffic shifting: the ranges are those UpdateEndpoint accepts."""

    type: Literal["CANARY", "LINEAR", "ALL_AT_ONCE"] = "CANARY"
    """CANARY: a slice, then the rest; LINEAR: equal steps; ALL_AT_ONCE: one step, then bake."""
    canary_size_percent: Annotated[int, Field(ge=1, le=50)] = 10
    """Share of the new fleet's capacity that takes traffic first (SageMaker: at most 50%)."""
    linear_step_percent: Annotated[int, Field(ge=10, le=50)] = 20
    """Capacity shifted per LINEAR step (SageMaker: 10-50% of the fleet)."""
    wait_interval_seconds: Annotated[int, Field(ge=0, le=3600)] = 600
    """Baking time after each step, while the rollback alarms watch (SageMaker: 0-3600)."""
    termination_wait_seconds: Annotated[int, Field(ge=0, le=3600)] = 600
    """How long the old fleet stays up after the last step, ready to roll back to."""
    maximum_execution_timeout_seconds: Annotated[int, Field(ge=600, le=28800)] = 3600
    """Upper bound on the whole deployment (SageMaker: 600-28800)."""

    @property
    def total_wait_seconds(self) -> int:
        """The waits SageMaker schedules: one per step, plus the termination wait."""
        steps = -(-100 // self.linear_step_percent) if self.type == "LINEAR" else 1
        return steps * self.wait_interval_seconds + self.termination_wait_seconds

    @model_validator(mode="after")
    def _timeout_covers_the_waits(self) -> TrafficRoutingConfig:
        if self.maximum_execution_timeout_seconds <= self.total_wait_seconds:
            raise ValueError(
                f"maximumExecutionTimeoutSeconds {self.maximum_execution_timeout_seconds} must "
                f"exceed the traffic shift's total wait of {self.total_wait_seconds} s "
                "(wait intervals + termination wait), or SageMaker stops the deployment midway"
            )
        return self


class AlarmConfig(_Model):
    """The CloudWatch alarms that watch an endpoint and roll a deployment back."""

    latency_p99_ms: Annotated[float, Field(gt=0, le=60000)] = 120.0
    """p99 of SageMaker's ModelLatency above this (milliseconds) is an alarm."""
    error_rate_percent: Annotated[float, Field(gt=0, le=100)] = 1.0
    """5XX or model errors above this share of invocations is an alarm."""
    evaluation_periods: Annotated[int, Field(ge=1, le=10)] = 2
    """Consecutive breaching periods before the alarm fires."""
    period_seconds: Annotated[int, Field(ge=60, le=3600, multiple_of=60)] = 60
    """SageMaker publishes endpoint metrics once a minute: shorter periods never fill."""
    rollback_alarms: tuple[Alarm, ...] = ROLLBACK_ALARMS
    """Which of this stack's alarms roll a deployment back (all three in prod)."""
    drifted_features_threshold: Annotated[int, Field(ge=0, le=10000)] = 0
    """The drift alarm fires when a monitor run finds more drifting features than this
    (`DriftedFeatures`); it notifies and never rolls back."""
    quality_regressions_threshold: Annotated[int, Field(ge=0, le=1000)] = 0
    """The quality alarm fires when more metrics than this regress (`QualityRegressions`)."""
    monitor_period_seconds: Annotated[int, Field(ge=3600, le=86400, multiple_of=3600)] = 86400
    """Period of the drift and quality alarms: at least the monitors' schedule (daily)."""

    @field_validator("rollback_alarms")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each alarm may be listed once")
        return value

    @property
    def window_seconds(self) -> int:
        return self.evaluation_periods * self.period_seconds


K8S_CPU = r"^([1-9][0-9]{0,5}m|[1-9][0-9]{0,2}(\.[0-9]{1,3})?|0\.[0-9]{1,3})$"
K8S_MEMORY = r"^[1-9][0-9]{0,5}(Mi|Gi)$"


def cpu_millis(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else round(float(quantity) * 1000)


def memory_mib(quantity: str) -> int:
    return int(quantity[:-2]) * (1024 if quantity.endswith("Gi") else 1)


class KubernetesServingConfig(_Model):
    """The same server on a Kubernetes cluster, next to (not instead of) the endpoint."""

    enabled: bool = False
    namespace: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)] = (
        "mlops-serving"
    )
    model: Annotated[str, Field(pattern=NAME)] | None = None
    """Which of `mlops:models` the cluster serves; defaults to the only one declared."""
    replicas: Annotated[int, Field(ge=1, le=50)] = 2
    """Minimum replicas (the HorizontalPodAutoscaler's floor)."""
    max_replicas: Annotated[int, Field(ge=1, le=100)] = 6
    cpu_request: Annotated[str, Field(pattern=K8S_CPU)] = "500m"
    cpu_limit: Annotated[str, Field(pattern=K8S_CPU)] = "1"
    memory_request: Annotated[str, Field(pattern=K8S_MEMORY)] = "512Mi"
    memory_limit: Annotated[str, Field(pattern=K8S_MEMORY)] = "1Gi"
    run_as_user: Annotated[int, Field(ge=1, le=2147483647)] = 10001
    """Numeric non-root user (and group) of the server process, as the image declares it."""
    client_namespaces: tuple[
        Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)], ...
    ] = ()
    """Namespaces whose pods may call the Service (besides the serving namespace itself)."""
    image: str | None = None
    """Serving image for the cluster; defaults to the stack's ECR repository at
    `mlops:image` (by digest outside dev)."""
    context: Annotated[str, Field(min_length=1)] | None = None
    """kubeconfig context to deploy to; none means the current context of $KUBECONFIG."""
    render_yaml_to_directory: Annotated[str, Field(min_length=1)] | None = None
    """Write the manifests to this directory instead of applying them (GitOps hand-off);
    relative to the program's directory, `infra/` (docs/kubernetes.md)."""
    oidc_issuer_url: (
        Annotated[str, Field(pattern=r"^https://[a-z0-9.-]+(/[A-Za-z0-9._-]+)*$")] | None
    ) = None
    """The cluster's OIDC issuer (`aws eks describe-cluster`, `cluster.identity.oidc.issuer`),
    whose IAM OIDC provider is in the stack's account; the model-fetch role trusts only its
    tokens for the server's service account (IRSA). Required when enabled."""
    fetch_egress_cidrs: tuple[Annotated[str, Field(min_length=9, max_length=18)], ...] = ()
    """Private CIDRs of the interface VPC endpoints (STS, SageMaker API, S3) the init
    container reaches on 443; the pods may reach nothing else. Required when enabled."""

    @field_validator("fetch_egress_cidrs")
    @classmethod
    def _private_cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            try:
                net = ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ValueError(f"{cidr} is not a CIDR block such as 10.60.0.0/24") from None
            if net.version != 4 or not net.is_private or net.prefixlen < 16:
                raise ValueError(f"{cidr} must be a private IPv4 CIDR of /16 or narrower")
        return value

    @property
    def oidc_issuer(self) -> str:
        """`oidc.eks.<region>.amazonaws.com/id/<id>`: the IAM provider's name and the prefix
        of the trust policy's condition keys."""
        assert self.oidc_issuer_url is not None
        return self.oidc_issuer_url.removeprefix("https://")

    @model_validator(mode="after")
    def _sizes(self) -> KubernetesServingConfig:
        if self.max_replicas < self.replicas:
            raise ValueError(f"maxReplicas {self.max_replicas} must be >= replicas {self.replicas}")
        if cpu_millis(self.cpu_limit) < cpu_millis(self.cpu_request):
            raise ValueError(f"cpuLimit {self.cpu_limit} must be >= cpuRequest {self.cpu_request}")
        if memory_mib(self.memory_limit) < memory_mib(self.memory_request):
            raise ValueError(
                f"memoryLimit {self.memory_limit} must be >= memoryRequest {self.memory_request}"
            )
        return self


class ServingConfig(_Model):
    instance_type: Annotated[str, Field(pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")] = "ml.m5.large"
    initial_instance_count: Annotated[int, Field(ge=1, le=20)] = 2
    """Instances per variant; SageMaker spreads them across AZs. CANARY/LINEAR need two."""
    max_instance_count: Annotated[int, Field(ge=1, le=40)] = 4
    target_invocations_per_instance: Annotated[int, Field(ge=1, le=100000)] = 1000
    """Autoscaling target: invocations per instance per minute."""
    data_capture_percent: Annotated[int, Field(ge=1, le=100)] = 100
    log_retention_days: int = 365
    """Retention of the endpoint's (KMS-encrypted) CloudWatch log group."""
    traffic_routing: TrafficRoutingConfig = TrafficRoutingConfig()
    alarms: AlarmConfig = AlarmConfig()
    kubernetes: KubernetesServingConfig = KubernetesServingConfig()

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return log_retention(value)

    @model_validator(mode="after")
    def _capacity(self) -> ServingConfig:
        if self.max_instance_count < self.initial_instance_count:
            raise ValueError("maxInstanceCount must be >= initialInstanceCount")
        return self

    @model_validator(mode="after")
    def _traffic_shift_fits_the_fleet(self) -> ServingConfig:
        routing, alarms = self.traffic_routing, self.alarms
        if routing.type != "ALL_AT_ONCE" and self.initial_instance_count < 2:
            raise ValueError(
                f"trafficRouting.type {routing.type} needs initialInstanceCount >= 2 (found "
                f"{self.initial_instance_count}): SageMaker shifts whole instances and a canary "
                "or step may be at most half the fleet; use ALL_AT_ONCE for one instance"
            )
        if alarms.rollback_alarms and routing.wait_interval_seconds < alarms.window_seconds:
            raise ValueError(
                f"trafficRouting.waitIntervalSeconds {routing.wait_interval_seconds} is shorter "
                f"than the alarms' evaluation window of {alarms.window_seconds} s "
                "(evaluationPeriods x periodSeconds): a bad release would move on before an "
                "alarm could fire"
            )
        return self


class ModelRef(_Model):
    """One model the stack serves: its registry group and the approved version."""

    version: Annotated[int, Field(ge=1)] | None = None
    """Model package version in the group; null until the first release PR sets it."""
    previous_version: Annotated[int, Field(ge=1)] | None = None
    """The version that served before this release (`previousVersion`, written by the release
    PR, dropped by the revert or replaced by the next release): its Model and
    EndpointConfig are kept so that SageMaker's auto-rollback lands on something that
    exists. It never serves from the stack file; see docs/rollback.md."""

    @model_validator(mode="after")
    def _previous_is_another_served_version(self) -> ModelRef:
        if self.previous_version is not None and self.previous_version == self.version:
            raise ValueError(
                f"previousVersion {self.previous_version} equals version: drop previousVersion "
                "(it names the version that served before this release)"
            )
        if self.previous_version is not None and self.version is None:
            raise ValueError("previousVersion needs a version: set version or drop previousVersion")
        return self


IMAGE_DIGEST = r"^sha256:[0-9a-f]{64}$"
DEV_IMAGE_TAG = "dev"
"""The tag dev's image defaults to when its stack file names no digest (local work)."""
PLACEHOLDER_IMAGE_DIGEST = "sha256:" + "0" * 64
"""What the shipped stack files carry until the image workflow's first digest replaces it."""


class ImageConfig(_Model):
    """The serving and training image in the stack's ECR repository (docs/image.md).

    Prod names it by digest, the bytes the image workflow pushed and signed; a release PR
    bumps the digest. Dev and staging may name a tag instead (images built by hand).
    """

    digest: Annotated[str, Field(pattern=IMAGE_DIGEST)] | None = None
    """`sha256:<64 hex>`, as `image.yml` prints it (and tags it `git-<commit>`)."""
    tag: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")] | None = None
    """Not in prod: a tag instead of a digest (tags are immutable in the repository, but the
    stack file then does not say which bytes run)."""

    @model_validator(mode="after")
    def _one_reference(self) -> ImageConfig:
        if self.digest and self.tag:
            raise ValueError("digest and tag: name the image by one of them (found both)")
        return self

    @property
    def reference(self) -> str:
        """What follows the repository URL: `@sha256:<hex>`, or `:<tag>` in dev."""
        return f"@{self.digest}" if self.digest else f":{self.tag or DEV_IMAGE_TAG}"


class StackConfig(_Model):
    """The whole stack: `aws:region` plus every `mlops:*` key of the stack file."""

    environment: Literal["dev", "staging", "prod"]
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
    owner: Annotated[str, Field(min_length=1, max_length=128)]
    github: GitHubConfig
    kms: KmsConfig = KmsConfig()
    buckets: BucketConfig = BucketConfig()
    network: NetworkConfig = NetworkConfig()
    audit_trail: AuditTrailConfig = AuditTrailConfig()
    tracking: TrackingConfig = TrackingConfig()
    alerts: AlertsConfig = AlertsConfig()
    """Subscriptions of every alarm topic; prod needs at least one."""
    iam: IamConfig
    serving: ServingConfig = ServingConfig()
    models: dict[Annotated[str, Field(pattern=NAME)], ModelRef] = Field(default_factory=dict)
    image: ImageConfig = ImageConfig()
    tags: dict[
        Annotated[str, Field(pattern=TAG_CHARS, min_length=1, max_length=128)],
        Annotated[str, Field(pattern=TAG_CHARS, max_length=256)],
    ] = Field(default_factory=dict)
    """Extra tags on every resource: AWS's tag rules, and room for the program's own tags."""
    promotion: PromotionConfig | None = None
    """Where this stack's models come from by promotion (prod: from staging)."""
    promotes_to: tuple[PromotionTargetConfig, ...] = ()
    """Stacks that promote from this one (staging: prod), granted read of its models."""

    @model_validator(mode="after")
    def _tags_aws_accepts(self) -> StackConfig:
        """AWS refuses these only when `pulumi up` tags the first resource."""
        reserved = sorted(key for key in self.tags if key.lower().startswith("aws:"))
        if reserved:
            raise ValueError(f"tags.{reserved[0]}: the aws: prefix is reserved; rename the tag")
        room = MAX_TAGS_PER_RESOURCE - PROGRAM_TAGS
        if len(self.tags) > room:
            raise ValueError(
                f"tags: {len(self.tags)} tags, at most {room} allowed: AWS accepts "
                f"{MAX_TAGS_PER_RESOURCE} per resource and the program adds {PROGRAM_TAGS}"
            )
        return self

    @field_validator("models", mode="before")
    @classmethod
    def _declared_without_keys(cls, value: Any) -> Any:
        """`fraud-detector:` with nothing under it declares the group, unreleased."""
        if isinstance(value, dict):
            return {name: {} if ref is None else ref for name, ref in value.items()}
        return value

    @model_validator(mode="before")
    @classmethod
    def _per_stack_github_environments(cls, data: Any) -> Any:
        """Default the signing and approval environments to `model-<duty>-<env>`."""
        if not isinstance(data, dict):
            return data
        env, github = data.get("environment"), data.get("github")
        if not isinstance(env, str) or not isinstance(github, dict):
            return data
        github = dict(github)
        defaults = (
            ("signing", signing_environment),
            ("approval", approval_environment),
            ("promotion", promotion_environment),
        )
        for duty, default in defaults:
            if f"{duty}Environment" not in github and f"{duty}_environment" not in github:
                github[f"{duty}Environment"] = default(env)
        return {**data, "github": github}

    @model_validator(mode="after")
    def _environment_rules(self) -> StackConfig:
        if self.environment == "prod":
            lock = self.buckets.artifact_object_lock
            if not lock.enabled:
                raise ValueError("buckets.artifactObjectLock.enabled must be true in prod")
            if lock.mode != minimums.OBJECT_LOCK_MODE:
                raise ValueError(
                    f"buckets.artifactObjectLock.mode must be {minimums.OBJECT_LOCK_MODE} in prod "
                    f"(found {lock.mode}; GOVERNANCE can be bypassed with a permission)"
                )
            if lock.retention_days < minimums.OBJECT_LOCK_RETENTION_DAYS:
                raise ValueError(
                    "buckets.artifactObjectLock.retentionDays must be at least "
                    f"{minimums.OBJECT_LOCK_RETENTION_DAYS} in prod (found {lock.retention_days})"
                )
            if self.serving.initial_instance_count < 2:
                raise ValueError("serving.initialInstanceCount must be >= 2 in prod (two AZs)")
            if self.buckets.force_destroy:
                raise ValueError("buckets.forceDestroy must be false in prod")
            if self.buckets.capture_retention_days > CAPTURE_RETENTION_MAX_DAYS:
                raise ValueError(
                    f"buckets.captureRetentionDays must be at most {CAPTURE_RETENTION_MAX_DAYS} "
                    f"in prod (found {self.buckets.capture_retention_days}): captured requests "
                    "are personal data"
                )
        return self

    @model_validator(mode="after")
    def _promotion_rules(self) -> StackConfig:
        if self.promotion is not None and self.promotion.from_stack == self.environment:
            raise ValueError(
                f"promotion.fromStack {self.promotion.from_stack!r} is this stack: promote from "
                "another stack (its own account), e.g. fromStack: staging in Pulumi.prod.yaml"
            )
        for target in self.promotes_to:
            if target.stack == self.environment:
                raise ValueError(
                    f"promotesTo.stack {target.stack!r} is this stack: name the stack that "
                    "promotes from this one, e.g. stack: prod in Pulumi.staging.yaml"
                )
        return self

    @model_validator(mode="after")
    def _serving_rules(self) -> StackConfig:
        """What serves must be in the registry this stack declares, at a version."""
        missing = [a for a in ROLLBACK_ALARMS if a not in self.serving.alarms.rollback_alarms]
        if self.environment == "prod" and missing:
            raise ValueError(
                f"serving.alarms.rollbackAlarms must include {', '.join(missing)} in prod "
                f"(allowed: {', '.join(ROLLBACK_ALARMS)})"
            )
        k = self.serving.kubernetes
        if k.enabled:
            self.kubernetes_model  # noqa: B018 - raises ValueError when it cannot be resolved
            # The pods fetch their model with their own identity through the endpoints.
            for key, value in (
                ("oidcIssuerUrl", k.oidc_issuer_url),
                ("fetchEgressCidrs", k.fetch_egress_cidrs),
            ):
                if not value:
                    raise ValueError(
                        f"serving.kubernetes.{key} is required when Kubernetes serving is "
                        "enabled: the pods fetch the signed model with their own AWS identity "
                        "(docs/kubernetes.md)"
                    )
        return self

    @model_validator(mode="after")
    def _images_by_digest(self) -> StackConfig:
        """Prod says which bytes run: an image reference without a digest is refused here,
        not found out after `pulumi up`. Dev and staging may use a tag (the shipped staging
        file uses a digest too, as a promotion to prod needs)."""
        if self.environment != "prod":
            return self
        if not self.image.digest:
            raise ValueError(
                f"image.digest: {self.environment} runs its image by digest; set "
                "mlops:image.digest to the sha256:<64 hex> the image workflow printed "
                "(tags are for dev and staging; docs/image.md)"
            )
        k8s_image = self.serving.kubernetes.image
        if k8s_image and not re.search(r"@sha256:[0-9a-f]{64}$", k8s_image):
            raise ValueError(
                f"serving.kubernetes.image: {self.environment} runs images by digest (found "
                f"{k8s_image!r}); end it with @sha256:<64 hex>, or leave it out for the "
                "stack's repository at mlops:image.digest"
            )
        return self

    @model_validator(mode="after")
    def _alarms_reach_someone(self) -> StackConfig:
        """An alarm topic without a subscription reaches nobody: prod's rollbacks and CIS
        alarms would fire in silence."""
        if self.environment == "prod" and not self.alerts.destinations:
            raise ValueError(
                "alerts: prod's alarms must reach someone; set mlops:alerts.emails, "
                ".webhooks (https) or .slack (docs/alerts.md)"
            )
        return self

    @property
    def served_models(self) -> dict[str, int]:
        """Model name -> registry version, for every model the stack file gives a version.

        A model without a version has a registry group but serves nowhere yet (before its
        first release PR). The version comes from the stack file only.
        """
        return {name: ref.version for name, ref in self.models.items() if ref.version}

    @property
    def kubernetes_model(self) -> str:
        """The model the cluster serves: `serving.kubernetes.model`, or the only one declared."""
        declared = ", ".join(self.models) or "none"
        name = self.serving.kubernetes.model
        if name is None:
            if len(self.models) != 1:
                raise ValueError(
                    "serving.kubernetes.model is required when mlops:models declares "
                    f"{len(self.models)} models (declared: {declared})"
                )
            (name,) = self.models
        if name not in self.models:
            raise ValueError(
                f"serving.kubernetes.model {name!r} is not a model group of this stack "
                f"(declared in mlops:models: {declared})"
            )
        if not self.models[name].version:
            raise ValueError(
                f"serving.kubernetes.model {name!r} has no version: set "
                f"mlops:models.{name}.version to a registered model package version"
            )
        return name

    @property
    def name_prefix(self) -> str:
        return f"{PROJECT}-{self.environment}"

    @property
    def retained_models(self) -> dict[str, int]:
        """Model name -> the version kept ready for a rollback (`previousVersion`), if any."""
        return {
            name: ref.previous_version
            for name, ref in self.models.items()
            if ref.version and ref.previous_version
        }

    def promoter_role_arns(self, partition: str = "aws") -> list[str]:
        """The `gh-promote` roles of the stacks that promote from this one (`promotesTo`),
        each in its own account: the only other accounts' principals this stack admits."""
        return promoter_role_arns(self.promotes_to, partition)

    def model_group(self, model: str) -> str:
        """The model package group of `model` in this stack's registry (`mlops-<env>-<model>`);
        the serving component names the model's endpoint the same way."""
        return f"{self.name_prefix}-{model}"


def config_error(
    error: ValidationError,
    project: str,
    stack_file: str,
    schema: str,
    rule: str = "{key}: {message}",
) -> ConfigError:
    """The first problem as one line naming the Pulumi config key (`mlops:kms.x`) the user
    wrote in `stack_file`, validated by the models in `schema`."""

    def key(location: Sequence[str]) -> str:
        if not location:
            return f"{project}:config"
        top = "aws:region" if location[0] == "region" else f"{project}:{location[0]}"
        return ".".join([top, *location[1:]])

    return ConfigError(
        one_line(
            error,
            key,
            missing=f"{{key}}: required key is missing; add it to {stack_file}",
            unknown=f"{{key}}: unknown key; check the spelling (allowed keys: {schema})",
            rule=rule,
        )
    )


def parse_stack_config(values: Mapping[str, Any]) -> StackConfig:
    """Validate the flat Pulumi config (`aws:region`, `mlops:*`) into a `StackConfig`."""
    data: dict[str, Any] = {}
    for full_key, value in values.items():
        namespace, _, key = full_key.partition(":")
        if namespace == "aws" and key == "region":
            data["region"] = value
        elif namespace == PROJECT:
            data[key] = value
        elif namespace != "aws":
            raise ConfigError(f"{full_key}: unknown namespace {namespace!r}; use {PROJECT}:<key>")
    try:
        return StackConfig.model_validate(data)
    except ValidationError as error:
        # a rule's message starts with its key path in the model: it continues the key
        raise config_error(
            error, PROJECT, "the stack file", "infra/config.py", "{continued}"
        ) from None


def stack_file(stack: str, root: Path) -> Path:
    if stack not in STACKS:
        raise ConfigError(f"unknown stack {stack!r}: choose one of {', '.join(STACKS)}")
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise ConfigError(f"{path}: stack file not found; create it or pick another stack")
    return path


def read_stack_file(path: Path) -> dict[str, Any]:
    """The raw `config:` map of a stack file; secure values stay as {'secure': ...}."""
    document = read_yaml(path, "stack file", ConfigError)
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise ConfigError(f"{path}: expected a mapping with a top-level 'config:' key")
    return dict(document.get("config") or {})


def load_stack(stack: str, root: Path) -> StackConfig:
    """Read and validate `Pulumi.<stack>.yaml` under `root`."""
    return parse_stack_config(read_stack_file(stack_file(stack, root)))


def _environment_subjects(cfg: StackConfig) -> dict[str, str]:
    """Duty -> the OIDC subject of the GitHub environment a stack's role trusts for it."""
    g = cfg.github
    return {
        "signing": g.signing_subject,
        "approval": g.approval_subject,
        "promotion": g.promotion_subject,
        "deploy": g.subject(f"environment:{g.deploy_environment}"),
    }


def load_stacks(root: Path) -> dict[str, StackConfig]:
    """Every stack file under `root`, validated alone and then together.

    Together: prod's signing and approval subjects (`repo:O/R:environment:<name>`) belong to
    prod alone. A GitHub environment shared with another stack would let that stack's less
    protected jobs obtain a token that prod's release or approver role accepts.
    """
    configs = {
        stack: load_stack(stack, root)
        for stack in STACKS
        if (root / f"Pulumi.{stack}.yaml").is_file()
    }
    _check_promotions(configs)
    if "prod" not in configs:
        return configs
    prod = _environment_subjects(configs["prod"])
    for stack, cfg in configs.items():
        if stack == "prod":
            continue
        for other_duty, subject in _environment_subjects(cfg).items():
            for duty in ("signing", "approval", "promotion"):
                if prod[duty] == subject:
                    raise ConfigError(
                        f"mlops:github.{duty}Environment: Pulumi.prod.yaml's {duty} subject "
                        f"{subject!r} is also Pulumi.{stack}.yaml's {other_duty} subject; give "
                        "each stack its own GitHub environments (leave signingEnvironment and "
                        "approvalEnvironment out for model-signing-<env>, model-approval-<env>)"
                    )
    return configs


def _check_promotions(configs: Mapping[str, StackConfig]) -> None:
    """A promotion needs grants on both sides: the source stack must name the target."""
    for stack, cfg in configs.items():
        if cfg.promotion is None or cfg.promotion.from_stack not in configs:
            continue
        source = configs[cfg.promotion.from_stack]
        if not any(target.stack == stack for target in source.promotes_to):
            raise ConfigError(
                f"mlops:promotion.fromStack: Pulumi.{stack}.yaml promotes from "
                f"{cfg.promotion.from_stack}, but Pulumi.{cfg.promotion.from_stack}.yaml has no "
                f"mlops:promotesTo entry for {stack}; add {{stack: {stack}, accountId: <its "
                "account>}} so the source grants its promoting role read"
            )
