"""The policy core: metadata, what a validator sees, and the one evaluation engine.

A policy is plain data plus validator functions. The same functions run in two places:

- under Pulumi CrossGuard (`policies/__main__.py` via `policies.crossguard`), where a
  validator sees `args.props` of one resource (or every resource, for stack checks);
- offline over the rendered resource graph (`ml.audit.engine`), for tests and the audit.

Both runners build `Subject`s and call `evaluate_resource` / `evaluate_stack` below, so
there is one copy of every rule. A validator reads the resource through a `ResourceCheck`,
which records every value it reads: that record is the audit's evidence, the exact input
values a control was judged on.

Props are what the engine passes: camelCase keys (`versioningConfiguration.status`),
numbers as floats. Fixes in messages use the Python argument names engineers type
(`versioning_configuration={"status": "Enabled"}`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn, get_args

import jsonschema

Level = Literal["mandatory", "advisory"]
_KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")
Severity = Literal["low", "medium", "high", "critical"]
MANDATORY: Level = "mandatory"
ADVISORY: Level = "advisory"
PACK_NAME = "mlops-guardrails"

# Inputs whose string values other resources use to refer to a resource.
HANDLE_KEYS = ("id", "arn", "bucket", "name", "keyId", "alarmName", "repositoryUrl")

# Human nouns for messages; the class part of the type token otherwise.
NOUNS: dict[str, str] = {
    "aws:s3/bucket:Bucket": "S3 bucket",
    "aws:s3/bucketPolicy:BucketPolicy": "S3 bucket policy",
    "aws:kms/key:Key": "KMS key",
    "aws:iam/role:Role": "IAM role",
    "aws:iam/rolePolicy:RolePolicy": "IAM inline policy",
    "aws:iam/policy:Policy": "IAM managed policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "IAM policy attachment",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "OIDC provider",
    "aws:ecr/repository:Repository": "ECR repository",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "ECR repository policy",
    "aws:sns/topic:Topic": "SNS topic",
    "aws:sns/topicPolicy:TopicPolicy": "SNS topic policy",
    "aws:cloudwatch/logGroup:LogGroup": "log group",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "CloudWatch alarm",
    "aws:cloudtrail/trail:Trail": "CloudTrail trail",
    "aws:ec2/vpc:Vpc": "VPC",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/securityGroup:SecurityGroup": "security group",
    "aws:ec2/routeTable:RouteTable": "route table",
    "aws:ec2/route:Route": "route",
    "aws:sagemaker/model:Model": "SageMaker model",
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": "SageMaker endpoint config",
    "aws:sagemaker/endpoint:Endpoint": "SageMaker endpoint",
    "kubernetes:core/v1:Namespace": "namespace",
    "kubernetes:apps/v1:Deployment": "Deployment",
    "kubernetes:apps/v1:StatefulSet": "StatefulSet",
    "kubernetes:apps/v1:DaemonSet": "DaemonSet",
    "kubernetes:core/v1:Pod": "Pod",
    "github:index/repositoryEnvironment:RepositoryEnvironment": "GitHub environment",
    "github:index/branchProtection:BranchProtection": "branch protection",
    "github:index/actionsRepositoryOidcSubjectClaimCustomizationTemplate:"
    "ActionsRepositoryOidcSubjectClaimCustomizationTemplate": "OIDC subject template",
}

try:  # Under CrossGuard, reading a value unknown during preview raises this.
    from pulumi_policy.proxy import UnknownValueError as _Unknown
except ImportError:  # pragma: no cover - pulumi-policy is a project dependency

    class _Unknown(Exception):  # type: ignore[no-redef]
        pass


def noun(resource_type: str) -> str:
    return NOUNS.get(resource_type, resource_type.rsplit(":", 1)[-1])


def shown(value: Any) -> str:
    """An observed value as a message shows it: `not set`, `true`, `Suspended`, `[...]`."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value if value else '""'
    try:
        return json.dumps(plain(value), sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def plain(value: Any) -> Any:
    """Mappings and sequences (including CrossGuard's proxies) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(value[k]) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Param:
    """One tunable of a policy: becomes a property of its CrossGuard config schema."""

    name: str
    type: Literal["integer", "number", "boolean", "string", "array"]
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    items: Mapping[str, Any] | None = None

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": self.type,
            "default": self.default,
            "description": self.description,
        }
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.items is not None:
            schema["items"] = dict(self.items)
        return schema


@dataclass(frozen=True)
class Subject:
    """One resource as a validator sees it, the same under CrossGuard and offline."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    parent: str | None = None
    handles: frozenset[str] = frozenset()
    """Values other resources use to refer to this one (id, ARN, name)."""
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Property -> URNs it references (CrossGuard knows them even when values are unknown)."""


def handles_from(props: Mapping[str, Any], *extra: Any) -> frozenset[str]:
    """The string values among a resource's handle keys (and metadata.name), unknowns skipped."""
    values: list[Any] = list(extra)
    for key in HANDLE_KEYS:
        values.append(peek(props, key))
    values.append(peek(props, "metadata.name"))
    return frozenset(v for v in values if isinstance(v, str) and v)


PropPath = str | Sequence[str]


def _parts(path: PropPath) -> list[str]:
    """`"a.b.0"` -> `["a", "b", "0"]`; a sequence is taken as the parts already (for keys
    that contain dots, like Kubernetes labels)."""
    return path.split(".") if isinstance(path, str) else [str(p) for p in path]


def path_label(path: PropPath) -> str:
    """How evidence names a path: `a.b.0`, or `metadata.labels["x.io/y"]` for dotted keys."""
    return ".".join(p if "." not in p else f'["{p}"]' for p in _parts(path)).replace('.["', '["')


def _walk(props: Mapping[str, Any], path: PropPath, default: Any) -> Any:
    value: Any = props
    for part in _parts(path):
        if isinstance(value, Mapping):
            if part not in value:
                return default
            value = value[part]
        elif isinstance(value, Sequence) and not isinstance(value, str) and part.isdigit():
            index = int(part)
            if index >= len(value):
                return default
            value = value[index]
        else:
            return default
    return value


def peek(props: Mapping[str, Any], path: PropPath, default: Any = None) -> Any:
    """Read a dotted path (`a.b.0.c`); a missing or not-yet-known value is `default`."""
    try:
        return _walk(props, path, default)
    except _Unknown:
        return default


def _read(props: Mapping[str, Any], path: PropPath, default: Any) -> Any:
    """Like `peek`, but an unknown value propagates (CrossGuard then reports the policy
    as not runnable during preview instead of judging a value nobody knows yet)."""
    value = _walk(props, path, default)
    return default if value is None else value


class NotApplicable(Exception):
    """Raised by `ResourceCheck.not_applicable`: the rule does not concern this resource."""


class ResourceCheck:
    """What a validator works with: one resource, the policy config, the evidence log."""

    def __init__(
        self,
        subject: Subject,
        config: Mapping[str, Any],
        environment: str | None = None,
    ):
        self.subject = subject
        self.config = config
        self.stack_environment = environment
        self.evidence: dict[str, Any] = {}
        self.violations: list[str] = []

    @property
    def name(self) -> str:
        return self.subject.name

    @property
    def noun(self) -> str:
        return noun(self.subject.type)

    def get(self, path: PropPath, default: Any = None) -> Any:
        """The input at `path` (dotted, camelCase), recorded as evidence."""
        value = _read(self.subject.props, path, default)
        self.evidence[path_label(path)] = plain(value)
        return value

    def get_if_set(self, path: PropPath) -> Any:
        """Like `get`, but recorded as evidence only when the input is present (for
        deprecated inline inputs that are normally absent)."""
        value = _read(self.subject.props, path, None)
        if value is not None:
            self.evidence[path_label(path)] = plain(value)
        return value

    def look(self, other: Subject, path: PropPath, default: Any = None) -> Any:
        """An input of a related resource, recorded as `<name>.<path>` evidence."""
        value = _read(other.props, path, default)
        self.evidence[f"{other.name}.{path_label(path)}"] = plain(value)
        return value

    def note(self, key: str, value: Any) -> None:
        """Derived evidence (e.g. which statement granted what)."""
        self.evidence[key] = plain(value)

    @property
    def environment(self) -> str | None:
        """The resource's `environment` tag (or label), else the stack's environment."""
        tagged = peek(self.subject.props, "tags.environment") or peek(
            self.subject.props, "metadata.labels.environment"
        )
        value = tagged if isinstance(tagged, str) else self.stack_environment
        self.evidence["environment"] = value
        return value

    def in_environments(self, key: str = "environments") -> bool:
        """Whether this resource belongs to one of the environments in config `key`."""
        return self.environment in set(self.config.get(key) or ())

    def violation(self, rule: str, found: Any, fix: str) -> None:
        """Record `<noun> `<name>`: <rule> (found <value>); <fix>`."""
        self.violations.append(f"{self.noun} `{self.name}`: {rule} (found {shown(found)}); {fix}")

    def fail(self, message: str) -> None:
        """Record a message that names the resource itself (prefix added when missing)."""
        prefix = f"{self.noun} `{self.name}`: "
        self.violations.append(message if message.startswith(prefix) else prefix + message)

    def not_applicable(self, reason: str) -> NoReturn:
        raise NotApplicable(reason)


ResourceValidator = Callable[[ResourceCheck], None]


class StackCheck:
    """What a stack validator works with: every resource, and per-subject checks."""

    def __init__(
        self,
        subjects: Sequence[Subject],
        config: Mapping[str, Any],
        environment: str | None = None,
    ):
        self.subjects = tuple(subjects)
        self.config = config
        self.environment = environment
        self._checks: dict[str, ResourceCheck] = {}
        self._skipped: dict[str, str] = {}
        self._by_urn = {s.urn: s for s in self.subjects}

    def resources(self, *types: str) -> list[Subject]:
        return [s for s in self.subjects if s.type in types]

    def check(self, subject: Subject) -> ResourceCheck:
        """The evaluation of `subject` under this policy (one per subject)."""
        if subject.urn not in self._checks:
            self._checks[subject.urn] = ResourceCheck(subject, self.config, self.environment)
        return self._checks[subject.urn]

    def skip(self, subject: Subject, reason: str) -> None:
        """Mark `subject` as not concerned by this rule (shown as not applicable)."""
        self._checks.pop(subject.urn, None)
        self._skipped[subject.urn] = reason

    def referrers(self, target: Subject, of_type: str, prop: str) -> list[Subject]:
        """Resources of `of_type` whose input `prop` refers to `target`."""
        return [s for s in self.resources(of_type) if self._refers(s, prop, target)]

    def referenced(self, source: Subject, prop: str, of_type: str) -> list[Subject]:
        """Resources of `of_type` that `source`'s input `prop` refers to."""
        return [t for t in self.resources(of_type) if self._refers(source, prop, t)]

    def _refers(self, source: Subject, prop: str, target: Subject) -> bool:
        top = prop.split(".", 1)[0]
        if target.urn in source.dependencies.get(top, ()):
            return True
        value = peek(source.props, prop)
        values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        return any(isinstance(v, str) and v in target.handles for v in values)

    def evaluations(self, policy: Policy) -> list[Evaluation]:
        done = [
            Evaluation(policy.name, check.subject, tuple(check.violations), dict(check.evidence))
            for check in self._checks.values()
        ]
        skipped = [
            Evaluation(policy.name, self._by_urn[urn], (), {}, applicable=False, reason=reason)
            for urn, reason in self._skipped.items()
        ]
        return done + skipped


StackValidator = Callable[[StackCheck], None]


@dataclass(frozen=True)
class Policy:
    """One guardrail: metadata, controls it evidences, and its validator functions."""

    name: str
    description: str
    enforcement: Level
    controls: tuple[str, ...]
    severity: Severity = "medium"
    validators: Mapping[str, ResourceValidator] = field(default_factory=dict)
    """Resource type -> its one validator (CrossGuard `ResourceValidationPolicy`)."""
    stack_validator: StackValidator | None = None
    """For rules that need more than one resource (CrossGuard `StackValidationPolicy`)."""
    subject_types: tuple[str, ...] = ()
    """The resource types a stack validator judges (it may read others as evidence)."""
    params: tuple[Param, ...] = ()
    remediation: str = ""
    control_scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Control ID -> the only resource types whose verdicts evidence it (the control asks about
    those alone, e.g. FSBP IAM.21: customer managed policies); unlisted controls: all types."""

    def __post_init__(self) -> None:
        """Malformed metadata fails when the policy is built, so the pack cannot load it."""
        if not _KEBAB.match(self.name):
            raise ValueError(f"policy {self.name!r}: names are kebab-case (e.g. kms-key-rotation)")
        if bool(self.validators) == (self.stack_validator is not None):
            raise ValueError(f"policy {self.name}: give validators or a stack_validator")
        if not self.description.startswith("Checks whether"):
            raise ValueError(f"policy {self.name}: description must start 'Checks whether'")
        if self.enforcement not in get_args(Level):
            raise ValueError(
                f"policy {self.name}: enforcement must be one of {', '.join(get_args(Level))} "
                f"(found {self.enforcement!r})"
            )
        if not any(control.startswith("NIST ") for control in self.controls):
            raise ValueError(f"policy {self.name}: map at least one NIST 800-53 control")
        if self.stack_validator is not None and not self.subject_types:
            raise ValueError(f"policy {self.name}: a stack policy names its subject_types")
        for control_id, types in self.control_scopes.items():
            if control_id not in self.controls or not set(types) <= set(self.resource_types):
                raise ValueError(
                    f"policy {self.name}: scope of {control_id} must name one of its controls "
                    f"and only resource types it judges ({', '.join(self.resource_types)})"
                )

    def evidences(self, control_id: str, resource_type: str) -> bool:
        """Whether this policy's verdict on a `resource_type` resource evidences the control."""
        if control_id not in self.controls:
            return False
        scope = self.control_scopes.get(control_id)
        return scope is None or resource_type in scope

    @property
    def kind(self) -> Literal["resource", "stack"]:
        return "stack" if self.stack_validator is not None else "resource"

    @property
    def resource_types(self) -> tuple[str, ...]:
        return tuple(self.validators) if self.validators else self.subject_types

    def config_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {p.name: p.schema() for p in self.params},
            "additionalProperties": False,
        }

    def resolve_config(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overlaid with `overrides` (CrossGuard's `enforcementLevel` ignored),
        validated against the config schema; raises `ValueError` with one line."""
        config = {p.name: p.default for p in self.params}
        for key, value in (overrides or {}).items():
            if key != "enforcementLevel":
                config[key] = plain(value)
        try:
            jsonschema.validate(config, self.config_schema())
        except jsonschema.ValidationError as error:
            where = ".".join(str(p) for p in error.absolute_path) or "config"
            raise ValueError(f"policy {self.name}: {where}: {error.message}") from None
        return config


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one policy on one resource, with the values it was judged on."""

    policy: str
    subject: Subject
    violations: tuple[str, ...]
    evidence: dict[str, Any]
    applicable: bool = True
    reason: str | None = None

    @property
    def passed(self) -> bool:
        return self.applicable and not self.violations


def evaluate_resource(
    policy: Policy,
    subject: Subject,
    config: Mapping[str, Any] | None = None,
    environment: str | None = None,
) -> Evaluation | None:
    """Run `policy`'s validator for `subject.type` (None when it has none)."""
    validator = policy.validators.get(subject.type)
    if validator is None:
        return None
    check = ResourceCheck(subject, policy.resolve_config(config), environment)
    try:
        validator(check)
    except NotApplicable as skipped:
        return Evaluation(policy.name, subject, (), check.evidence, False, str(skipped))
    return Evaluation(policy.name, subject, tuple(check.violations), check.evidence)


def evaluate_stack(
    policy: Policy,
    subjects: Sequence[Subject],
    config: Mapping[str, Any] | None = None,
    environment: str | None = None,
) -> list[Evaluation]:
    """Run `policy`'s stack validator over every resource of the stack."""
    if policy.stack_validator is None:
        return []
    stack = StackCheck(subjects, policy.resolve_config(config), environment)
    policy.stack_validator(stack)
    return stack.evaluations(policy)


def evaluate(
    policies: Iterable[Policy],
    subjects: Sequence[Subject],
    configs: Mapping[str, Mapping[str, Any]] | None = None,
    environment: str | None = None,
) -> list[Evaluation]:
    """Every policy over every resource it concerns: what the offline audit runs."""
    results: list[Evaluation] = []
    for policy in policies:
        config = (configs or {}).get(policy.name)
        if policy.kind == "stack":
            results += evaluate_stack(policy, subjects, config, environment)
            continue
        for subject in subjects:
            evaluation = evaluate_resource(policy, subject, config, environment)
            if evaluation is not None:
                results.append(evaluation)
    return results
