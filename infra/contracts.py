"""Names that cross layers, declared once: infra writes them, `ml/`, the emulator and the
workflows read them (or the other way round), so a rename is one edit here.

Each name says who writes it and who reads it. Nothing else in `infra/`, `ml/` or
`policies/` spells an S3 prefix or one of these environment variables as a literal
(tests/contracts/test_literals.py); the workflows, which cannot import Python, are read
by tests/contracts/test_workflow_names.py; and tests/contracts/test_grants.py checks,
on every shipped stack, that each URI built here is granted to the role that uses it.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

# ---- S3 layout ------------------------------------------------------------------------
# Prefixes end in `/` so an IAM grant `<prefix>*` never matches a sibling
# (`models/` must not grant `models-old/`).

DATASETS_PREFIX = "datasets/"
"""Data bucket. Written by the main build (`gh-build`, the launcher stages channels);
read by training jobs (`training`, `training-pr`), `gh-train` and the drift monitor."""
TRAINING_OUTPUT_PREFIX = "training-output/"
"""Artifact bucket. Written by the SageMaker training job (the scope's execution role);
read by the launcher that started it and, for `main`, by `gh-release`."""
CHECKPOINTS_PREFIX = "checkpoints/"
"""Artifact bucket. Written and read back by the training job (spot restarts resume)."""
MODELS_PREFIX = "models/"
"""Artifact bucket. Written by `mlops register` (`gh-release`) only; read by inference,
`gh-deploy`, the launchers (the production model to beat), the plan role and auditors."""
CAPTURE_PREFIX = "datacapture/"
"""Capture bucket. Written by the endpoint's data capture (configured by
infra/components/serving_sagemaker.py); read by the drift monitor (`gh-monitor`)."""
MONITOR_STATE_PREFIX = "monitor-state/"
"""Capture bucket. The drift monitor's markers (`monitor_marker_key`): written and read
only by the monitor (`gh-monitor`), after each successful run."""
MAIN_SCOPE = "main"
"""Training scope of release builds on `main`."""
PULL_REQUEST_SCOPE = "pull-requests"
"""Training scope family of pull requests: `pull-requests/<n>`."""
MODEL_ARTIFACT_FILE = "model.tar.gz"
"""The archive SageMaker loads, under `models/<group>/<digest>/` and in training output."""
SIGNATURE_FILE = "signature.dsse.json"
"""The DSSE envelope: inside the model archive and beside it under `models/...`."""
TRACKING_PREFIX = "mlflow/"
"""Artifact bucket. The SageMaker managed MLflow tracking server's artifact store, read and
written only by the server's own role (`tracking`); runs log no files there (docs/tracking.md)."""
VALIDATION_REPORT_FILE = "validation.json"
"""The validation report `mlops register` stores beside the signed model."""
ENDPOINT_VARIANT = "primary"
"""The production variant of every endpoint; blue/green needs it stable, and data
capture writes under it."""


def training_scope(pull_request: int | None) -> str:
    """`main`, or `pull-requests/<n>` for a pull request's training run."""
    return MAIN_SCOPE if pull_request is None else f"{PULL_REQUEST_SCOPE}/{pull_request}"


def training_output_prefix(scope: str) -> str:
    """`training-output/<scope>/`; IAM grants it per scope family (`main`, `pull-requests`)."""
    return f"{TRAINING_OUTPUT_PREFIX}{scope}/"


def checkpoints_prefix(scope: str) -> str:
    """`checkpoints/<scope>/`; IAM grants it per scope family, like the output."""
    return f"{CHECKPOINTS_PREFIX}{scope}/"


def dataset_prefix(model: str, *parts: str) -> str:
    """`datasets/<model>/<parts...>/`: the launcher's channels are `<digest>/<channel>`."""
    return "/".join((DATASETS_PREFIX.rstrip("/"), model, *parts)) + "/"


def model_prefix(group: str, digest: str) -> str:
    """`models/<group>/<digest>/`: where `mlops register` puts one signed artifact."""
    return f"{MODELS_PREFIX}{group}/{digest}/"


def capture_prefix(endpoint: str, variant: str = ENDPOINT_VARIANT) -> str:
    """`datacapture/<endpoint>/<variant>/`: where SageMaker writes an endpoint's capture
    (then `yyyy/mm/dd/hh/*.jsonl`), as its DataCaptureConfig documents."""
    return f"{CAPTURE_PREFIX}{endpoint}/{variant}/"


def monitor_state_prefix(capture: str) -> str:
    """`monitor-state/<capture prefix>`: the drift monitor's state for the capture under
    the key prefix `capture`: its marker, and its processing jobs' manifests and reports."""
    return f"{MONITOR_STATE_PREFIX}{capture.rstrip('/')}/"


def monitor_marker_key(capture: str) -> str:
    """The last capture key the drift monitor read under `capture` (`ml.drift.window`)."""
    return f"{monitor_state_prefix(capture)}marker.json"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


# ---- Stack outputs (infra/program.py exports; `mlops`, CI and the emulator read) ----------


class StackOutput(StrEnum):
    """`pulumi stack output` names. The emulator's `EmulatedStack.outputs` mimics them."""

    ENVIRONMENT = "environment"
    REGION = "region"
    DATA_KEY_ARN = "dataKeyArn"
    SIGNING_KEY_ARN = "signingKeyArn"
    SIGNING_KEY_ALIAS = "signingKeyAlias"
    LOGS_KEY_ARN = "logsKeyArn"
    """Only in stacks with a trail or flow logs."""
    DATA_BUCKET = "dataBucket"
    ARTIFACT_BUCKET = "artifactBucket"
    CAPTURE_BUCKET = "captureBucket"
    LOG_BUCKET = "logBucket"
    TRAIL_BUCKET = "trailBucket"
    TRAIL_ARN = "trailArn"
    REPOSITORY_URL = "repositoryUrl"
    MODEL_PACKAGE_GROUPS = "modelPackageGroups"
    ROLES = "roles"
    """Role purpose (camelCase, `role_output_key`) -> role ARN; the launcher reads
    `roles.training` and `roles.trainingPr`."""
    VPC_ID = "vpcId"
    PRIVATE_SUBNET_IDS = "privateSubnetIds"
    TRAINING_SECURITY_GROUP_ID = "trainingSecurityGroupId"
    ENDPOINT_SECURITY_GROUP_ID = "endpointSecurityGroupId"
    SERVING_ALARM_TOPIC_ARN = "servingAlarmTopicArn"
    SECURITY_ALARM_TOPIC_ARN = "securityAlarmTopicArn"
    """Only in stacks with a trail: the CIS section-4 alarms' topic."""
    ENDPOINTS = "endpoints"
    KUBERNETES = "kubernetes"
    TRACKING_SERVER_ARN = "trackingServerArn"
    """The MLflow tracking server (only in stacks with `tracking.enabled`): the training
    workflows set `MLFLOW_TRACKING_URI` to it."""


def role_output_key(purpose: str) -> str:
    """`training-pr` -> `trainingPr`: the key of a role under the `roles` output."""
    first, *rest = purpose.split("-")
    return first + "".join(part.title() for part in rest)


# ---- CloudWatch alarms (serving component creates; config, release watch read) ---------


class Alarm(StrEnum):
    """The kinds of alarm on every endpoint; each alarm is `<endpoint>-<kind>`."""

    LATENCY_P99 = "model-latency-p99"
    ERRORS_5XX = "invocation-5xx-errors"
    MODEL_ERRORS = "model-errors"


ROLLBACK_ALARMS: tuple[Alarm, ...] = tuple(Alarm)
"""All kinds: the default of `serving.alarms.rollbackAlarms`, required in prod."""


def alarm_name(endpoint: str, kind: str) -> str:
    return f"{endpoint}-{kind}"


# ---- Model monitoring metrics (drift monitor and `mlops quality` publish; alarms read) ----

MONITORING_NAMESPACE = "mlops/monitoring"
"""CloudWatch namespace of the monitoring jobs' metrics; `cloudwatch:namespace` conditions
on PutMetricData name it."""
MONITORING_DIMENSION = "EndpointName"
"""The one dimension of every monitoring metric: the endpoint whose traffic was judged."""


class MonitorMetric(StrEnum):
    """Metrics the scheduled jobs publish per endpoint; drift and quality alarms watch them."""

    DRIFTED_FEATURES = "DriftedFeatures"
    """Features whose drift test fired in the window the monitor read (`mlops drift`)."""
    QUALITY_REGRESSIONS = "QualityRegressions"
    """Metrics worse than their tolerance against the baseline (`mlops quality`)."""


class MonitorAlarm(StrEnum):
    """The alarms on the monitoring metrics, `<endpoint>-<kind>`: they notify the alarm topic
    and never roll a deployment back (a drifting input is not a bad release)."""

    DRIFT = "feature-drift"
    """`DriftedFeatures` above `serving.alarms.driftedFeaturesThreshold`."""
    QUALITY = "quality-regression"
    """`QualityRegressions` above `serving.alarms.qualityRegressionsThreshold`."""


# ---- Environment variables ----------------------------------------------------------------


class Env(StrEnum):
    """Environment variables one layer sets and another reads."""

    MODEL_NAME = "MLOPS_MODEL_NAME"
    """Set by infra (SageMaker Model, Kubernetes Deployment) and the launcher; read by the
    server (the model it may serve) and the training entry point (recorded in model.json)."""
    STACK = "MLOPS_STACK"
    """Set by infra; the server refuses a statement signed for another stack."""
    MODEL_VERSION = "MLOPS_MODEL_VERSION"
    """Set by infra from the stack file; the server refuses another version."""
    REQUIRE_SIGNATURE = "MLOPS_REQUIRE_SIGNATURE"
    """Set `true` by infra; only local development sets it false."""
    SIGNING_PUBLIC_KEY_PEM = "MLOPS_SIGNING_PUBLIC_KEY_PEM"
    """The PEM itself: set by the SageMaker Model (network isolation, no KMS)."""
    SIGNING_PUBLIC_KEY = "MLOPS_SIGNING_PUBLIC_KEY"
    """A PEM file path: set by the Kubernetes Deployment (mounted), read by server and CLI."""
    SIGNING_KEY_ID = "MLOPS_SIGNING_KEY_ID"
    """KMS signing key id/ARN/alias: read by the server and the signing/verifying CLI."""
    MAX_BODY_BYTES = "MLOPS_MAX_BODY_BYTES"
    ACCESS_LOG = "MLOPS_ACCESS_LOG"
    SERVE_WORKERS = "MLOPS_SERVE_WORKERS"
    CHECKPOINT_DIR = "MLOPS_CHECKPOINT_DIR"
    """Set by the local runner; read by the training entry point."""
    ARTIFACT_BUCKET = "MLOPS_ARTIFACT_BUCKET"
    """Set by workflows from `artifactBucket`; read by `mlops register` / `release verify`."""
    DATA_KEY_ID = "MLOPS_DATA_KEY_ID"
    """Set by workflows from `dataKeyArn`; read by `mlops register`."""
    INFERENCE_IMAGE = "MLOPS_INFERENCE_IMAGE"
    """Set by workflows; read by `mlops register` (the package's image)."""
    MLFLOW_TRACKING_URI = "MLFLOW_TRACKING_URI"
    """MLflow's own variable. Set by the training workflows from `trackingServerArn`; read by
    `mlops train` (ml/tracking/runs.py). Unset: a local store under `build/`."""


# ---- GitHub environments (the identity trust policies pin them; workflows enter them) -----


def signing_environment(stack: str) -> str:
    """`model-signing-<stack>`: the only environment `gh-release` trusts by default."""
    return f"model-signing-{stack}"


def approval_environment(stack: str) -> str:
    """`model-approval-<stack>`: the environment (required reviewers) `gh-approve` trusts."""
    return f"model-approval-{stack}"


# --- N: the bootstrap program (infra/bootstrap/) and what the main stacks take from it ------
# One bootstrap per AWS account declares these; the main stacks derive them from the account
# id and region, so a stack file needs no account-specific ARN for them.
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
"""The GitHub Actions OIDC issuer: one IAM provider per account may have this URL."""
STATE_BUCKET_PREFIX = "mlops-state"
"""The Pulumi state bucket is `mlops-state-<account>-<region>` (globally unique by account)."""
STATE_KEY_ALIAS = "alias/mlops-state"
"""The state CMK: SSE-KMS of the state bucket and the secrets provider `awskms://<alias>`."""
PERMISSIONS_BOUNDARY_NAME = "mlops-permissions-boundary"
"""The managed policy that caps the infra role and every role it creates."""
INFRA_ROLE_NAME = "mlops-infra-deploy"
"""The role `infra-deploy.yml` assumes (`AWS_INFRA_ROLE_ARN`) to run `pulumi up`."""
STATE_PROJECT = "mlops"
"""The Pulumi project whose stacks the main roles read and write in the state bucket."""
# Pulumi's DIY (S3) backend layout with project-scoped stacks (pkg/backend/diy, Pulumi 3.x):
# the checkpoint `.pulumi/stacks/<project>/<stack>.json` (+ `.json.bak`, `.json.gz`),
# `.pulumi/history/<project>/<stack>/`, `.pulumi/backups/<project>/<stack>/`, and lock files
# under `.pulumi/locks/organization/<project>/<stack>/`; `.pulumi/meta.yaml` is read at login.
STATE_META_KEY = ".pulumi/meta.yaml"
STATE_STACKS_PREFIX = f".pulumi/stacks/{STATE_PROJECT}/"
STATE_HISTORY_PREFIX = f".pulumi/history/{STATE_PROJECT}/"
STATE_BACKUPS_PREFIX = f".pulumi/backups/{STATE_PROJECT}/"
STATE_LOCKS_PREFIX = f".pulumi/locks/organization/{STATE_PROJECT}/"
EXAMPLE_GITHUB_REPOSITORY = ("acme", "mlops-gitops")
"""The org/repo the shipped stack files trust; `mlops infra validate` warns while it stays."""


def state_bucket_name(account_id: str, region: str) -> str:
    return f"{STATE_BUCKET_PREFIX}-{account_id}-{region}"


# ---- D: Kubernetes model delivery and the GitOps hand-off ---------------------------------


def group_models_prefix(group: str) -> str:
    """`models/<group>/`: every signed artifact of one group; the Kubernetes pods' fetch
    role and prod's promoter read this and no other prefix (`model_prefix` puts each digest
    under it)."""
    return f"{MODELS_PREFIX}{group}/"


GITOPS_BRANCH = "gitops"
"""The branch the rendered Kubernetes manifests are published to (`infra-deploy.yml`,
`model-release.yml` write it; Argo CD or Flux read it; nothing else is on it)."""


def gitops_path(stack: str) -> str:
    """`deploy/k8s/<stack>/`: one stack's manifests on `GITOPS_BRANCH`; the GitOps
    controller's Application/Kustomization points here (docs/kubernetes.md)."""
    return f"deploy/k8s/{stack}/"


# ---- C: per-version SageMaker serving resources ------------------------------------------
SAGEMAKER_NAME_MAX = 63
"""SageMaker's limit on Model, EndpointConfig and Endpoint names."""


def versioned_serving_name(endpoint: str, version: int) -> str:
    """The Model and the EndpointConfig that serve `version` behind `endpoint`: `<endpoint>-v<N>`.

    One name per version, so a release creates the new pair next to the old one and the
    version a rollback lands on is found by name. Past 63 characters the endpoint part is
    cut and an 8-hex hash of the full name keeps it unique.
    """
    suffix = f"-v{version}"
    name = f"{endpoint}{suffix}"
    if len(name) <= SAGEMAKER_NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    keep = SAGEMAKER_NAME_MAX - len(suffix) - len(digest) - 1
    return f"{endpoint[:keep].rstrip('-')}-{digest}{suffix}"


# ---- B: the release bot (revert pull requests) and the serving image --------------------
RELEASE_BOT_ENVIRONMENT = "release-bot"
"""GitHub environment (main only, declared by infra/github) holding the release bot's
private key; the revert jobs of model-release.yml enter it to mint the bot's token."""
RELEASE_BOT_CLIENT_ID_VARIABLE = "RELEASE_BOT_CLIENT_ID"
"""Repository variable (infra/github declares it): the GitHub App's client ID."""
RELEASE_BOT_KEY_SECRET = "RELEASE_BOT_PRIVATE_KEY"  # noqa: S105 - a secret's name, not its value
"""Secret of the release-bot environment: the GitHub App's private key (set by hand)."""


def signing_key_alias(name_prefix: str) -> str:
    """`alias/mlops-<env>-signing`: the stack's signing key (infra creates it; `mlops image`
    and `mlops release verify` default to it; the workflows spell it per stack)."""
    return f"alias/{name_prefix}-signing"


# ---- A: promotion across accounts (staging -> prod) ----------------------------------------
# The target stack's promoting role has a fixed name, so the source stack (another AWS account)
# can name it in its bucket, key and registry policies without reading the target's state.
PROMOTE_ROLE_SUFFIX = "gh-promote"
"""Role `mlops-<target>-gh-promote`: copies an approved source package into its own stack."""


def promote_role_name(stack: str) -> str:
    """`mlops-<stack>-gh-promote`: the role that promotes into `stack` (fixed, not autonamed)."""
    return f"mlops-{stack}-{PROMOTE_ROLE_SUFFIX}"


def promotion_environment(stack: str) -> str:
    """`model-promotion-<stack>`: the only GitHub environment `gh-promote` trusts by default."""
    return f"model-promotion-{stack}"


PROMOTED_FROM_ENV = "MLOPS_PROMOTED_FROM"
"""Set by infra on a stack that takes promotions (prod: `staging`); read by the server, which
then also serves a statement signed for that stack (a promoted model keeps its signature).
The stack's `MLOPS_SIGNING_PUBLIC_KEY_PEM` then holds the trusted source keys' PEMs too."""


# ---- E: ground truth and the retention of captured data ----------------------------------
GROUND_TRUTH_PREFIX = "groundtruth/"
"""Capture bucket. Written by whoever labels the endpoint's traffic (the labelling process,
outside this stack, as an administrator uploads); read by `mlops quality` (`gh-monitor`).
It sits beside the capture it labels, so it expires with it (`captureRetentionDays`)."""


def ground_truth_prefix(endpoint: str) -> str:
    """`groundtruth/<endpoint>/`: the labels of one endpoint's captured predictions."""
    return f"{GROUND_TRUTH_PREFIX}{endpoint}/"


CAPTURE_RETENTION_MAX_DAYS = 180
"""Longest `buckets.captureRetentionDays` prod accepts, and the default limit of the
policy `s3-capture-bucket-data-expires-in-prod`: captured requests are personal data."""
CAPTURE_NONCURRENT_DAYS = 1
"""Days an expired or overwritten capture object's old version is kept: a versioned
bucket's expiration only hides the data until its noncurrent version expires too."""


# ---- G: experiment tracking (ml.tracking logs runs; permissions and boundary grant) ------

TRACKING_ACTIONS = (
    "sagemaker-mlflow:CreateExperiment",
    "sagemaker-mlflow:CreateRun",
    "sagemaker-mlflow:GetExperimentByName",
    "sagemaker-mlflow:GetRun",
    "sagemaker-mlflow:LogBatch",
    "sagemaker-mlflow:UpdateRun",
)
"""The IAM actions of the calls `ml.tracking.runs.log_training_run` makes; the launchers' grant
and the bootstrap boundary name exactly these (tests/ml/tracking/test_tracking.py records them)."""


# ---- S3 server access logs (every bucket writes, the log bucket's policy admits) ---------

ACCESS_LOGS_PREFIX = "s3-access/"
"""Where S3 delivers each bucket's server access logs in the log bucket
(`s3-access/<bucket>/`); the log bucket's policy lets `logging.s3.amazonaws.com` write
under this prefix only."""
