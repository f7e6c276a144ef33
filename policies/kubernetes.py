"""Kubernetes serving: restricted pods, sized and probed, fenced by NetworkPolicy, with a
PodDisruptionBudget and a HorizontalPodAutoscaler.

Props are the manifests as pulumi-kubernetes sends them (Kubernetes' own camelCase). The
pod rules are the `restricted` Pod Security Standard plus a read-only root filesystem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.core import MANDATORY, Param, Policy, ResourceCheck, StackCheck, Subject, peek

NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
# Where each workload kind keeps its pod spec.
POD_SPEC_PATHS: dict[str, str] = {
    DEPLOYMENT: "spec.template.spec",
    STATEFUL_SET: "spec.template.spec",
    "kubernetes:apps/v1:DaemonSet": "spec.template.spec",
    "kubernetes:apps/v1:ReplicaSet": "spec.template.spec",
    "kubernetes:batch/v1:Job": "spec.template.spec",
    "kubernetes:batch/v1:CronJob": "spec.jobTemplate.spec.template.spec",
    "kubernetes:core/v1:Pod": "spec",
}
SCALABLE = (DEPLOYMENT, STATEFUL_SET)
PSS_ENFORCE = "pod-security.kubernetes.io/enforce"
ALLOWED_ADDED_CAPABILITIES = {"NET_BIND_SERVICE"}


def _kind(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def _check_namespace(check: ResourceCheck) -> None:
    level = check.get(("metadata", "labels", PSS_ENFORCE))
    if level != "restricted":
        check.violation(
            "the namespace must enforce the restricted Pod Security Standard",
            f"{PSS_ENFORCE}={level}" if level else "no enforce label",
            f'add metadata.labels["{PSS_ENFORCE}"]="restricted"',
        )


NAMESPACE_RESTRICTED = Policy(
    name="kubernetes-namespace-restricted-pod-security",
    description="Checks whether every namespace enforces the restricted Pod Security "
    "Standard through its pod-security.kubernetes.io/enforce label.",
    enforcement=MANDATORY,
    severity="high",
    controls=("CIS-K8S 5.2.1", "NIST AC-6", "NIST CM-7"),
    validators={NAMESPACE: _check_namespace},
)


def _pod_spec(check: ResourceCheck) -> Mapping[str, Any]:
    path = POD_SPEC_PATHS[check.subject.type]
    spec = check.get(path)
    if not isinstance(spec, Mapping):
        check.violation("a pod template is required", None, f"set {path}")
        return {}
    return spec


def _containers(spec: Mapping[str, Any], with_init: bool = True) -> list[Mapping[str, Any]]:
    kinds = (
        ("containers", "initContainers", "ephemeralContainers") if with_init else ("containers",)
    )
    return [c for kind in kinds for c in spec.get(kind) or []]


def _check_pod_security(check: ResourceCheck) -> None:
    spec = _pod_spec(check)
    if not spec:
        return
    pod = spec.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag) is True:
            check.violation(f"pods must not use {flag}", True, f"remove {flag}")
    host_paths = [v.get("name") for v in spec.get("volumes") or [] if v.get("hostPath")]
    if host_paths:
        check.violation("pods must not mount hostPath volumes", host_paths, "use emptyDir or a PVC")
    pod_seccomp = peek(pod, "seccompProfile.type")
    for container in _containers(spec):
        name = container.get("name")
        ctx = container.get("securityContext") or {}
        check.note(f"container {name} securityContext", ctx)
        check.note("pod securityContext", pod)

        def bad(rule: str, found: object, fix: str, name: object = name) -> None:
            check.violation(f"container {name}: {rule}", found, fix)

        if ctx.get("privileged") is True:
            bad("must not be privileged", True, "set privileged=False")
        if ctx.get("allowPrivilegeEscalation") is not False:
            bad(
                "allowPrivilegeEscalation must be false",
                ctx.get("allowPrivilegeEscalation"),
                "set allow_privilege_escalation=False",
            )
        non_root = ctx.get("runAsNonRoot", pod.get("runAsNonRoot"))
        if non_root is not True:
            bad("must run as non-root", non_root, "set run_as_non_root=True (pod or container)")
        if ctx.get("runAsUser", pod.get("runAsUser")) == 0:
            bad("must not run as UID 0", 0, "set run_as_user to a non-zero UID")
        capabilities = ctx.get("capabilities") or {}
        if "ALL" not in list(capabilities.get("drop") or []):
            bad(
                "must drop ALL capabilities",
                list(capabilities.get("drop") or []) or None,
                'set capabilities={"drop": ["ALL"]}',
            )
        added = set(capabilities.get("add") or []) - ALLOWED_ADDED_CAPABILITIES
        if added:
            bad("must add no capabilities but NET_BIND_SERVICE", sorted(added), "remove them")
        seccomp = peek(ctx, "seccompProfile.type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            bad(
                "seccomp profile must be RuntimeDefault (or Localhost)",
                seccomp,
                'set seccomp_profile={"type": "RuntimeDefault"} (pod or container)',
            )
        if (
            check.config["requireReadOnlyRootFilesystem"]
            and ctx.get("readOnlyRootFilesystem") is not True
        ):
            bad(
                "the root filesystem must be read-only",
                ctx.get("readOnlyRootFilesystem"),
                "set read_only_root_filesystem=True and mount an emptyDir for scratch space",
            )
        ports = [p.get("hostPort") for p in container.get("ports") or [] if p.get("hostPort")]
        if ports:
            bad("must not bind host ports", ports, "remove host_port")


POD_SECURITY = Policy(
    name="kubernetes-pod-security-restricted",
    description="Checks whether every pod template meets the restricted Pod Security "
    "Standard (non-root, no privilege escalation, ALL capabilities dropped, RuntimeDefault "
    "seccomp, no host namespaces or paths) with a read-only root filesystem.",
    enforcement=MANDATORY,
    severity="high",
    controls=(
        "CIS-K8S 5.2.2",
        "CIS-K8S 5.2.5",
        "CIS-K8S 5.2.6",
        "CIS-K8S 5.2.7",
        "CIS-K8S 5.2.9",
        "CIS-K8S 5.2.12",
        "CIS-K8S 5.7.2",
        "CIS-K8S 5.7.3",
        "NIST AC-6",
        "NIST CM-7",
        "NIST SC-39",
    ),
    validators={t: _check_pod_security for t in POD_SPEC_PATHS},
    params=(
        Param(
            "requireReadOnlyRootFilesystem",
            "boolean",
            True,
            "Require read_only_root_filesystem=True on every container.",
        ),
    ),
)


def _check_resources(check: ResourceCheck) -> None:
    spec = _pod_spec(check)
    for container in _containers(spec):
        name = container.get("name")
        resources = container.get("resources") or {}
        check.note(f"container {name} resources", resources)
        for section, required in (
            ("requests", check.config["requiredRequests"]),
            ("limits", check.config["requiredLimits"]),
        ):
            present = resources.get(section) or {}
            missing = [r for r in required if r not in present]
            if missing:
                check.violation(
                    f"container {name}: {section} must set {', '.join(required)}",
                    sorted(present) or None,
                    f"set resources.{section} for {', '.join(missing)}",
                )


RESOURCES_SET = Policy(
    name="kubernetes-container-resources",
    description="Checks whether every container declares CPU and memory requests and limits.",
    enforcement=MANDATORY,
    controls=("NIST SC-6", "NIST SC-5"),
    validators={t: _check_resources for t in POD_SPEC_PATHS},
    params=(
        Param(
            "requiredRequests",
            "array",
            ["cpu", "memory"],
            "Resources every container must request.",
            items={"type": "string"},
        ),
        Param(
            "requiredLimits",
            "array",
            ["cpu", "memory"],
            "Resources every container must limit.",
            items={"type": "string"},
        ),
    ),
)


def _check_probes(check: ResourceCheck) -> None:
    if check.subject.type in ("kubernetes:batch/v1:Job", "kubernetes:batch/v1:CronJob"):
        check.not_applicable("jobs run to completion; probes are for servers")
    spec = _pod_spec(check)
    path = check.config["httpPath"]
    for container in _containers(spec, with_init=False):
        name = container.get("name")
        for probe in ("readinessProbe", "livenessProbe"):
            found = container.get(probe)
            check.note(f"container {name} {probe}", found)
            if not found:
                check.violation(
                    f"container {name}: a {probe} is required",
                    None,
                    f'set {probe} (e.g. {{"http_get": {{"path": "{path or "/ping"}", ...}}}})',
                )
            elif path and peek(found, "httpGet.path") != path:
                check.violation(
                    f"container {name}: {probe} must call {path}",
                    peek(found, "httpGet.path"),
                    f'set {probe}.http_get.path="{path}"',
                )


PROBES_SET = Policy(
    name="kubernetes-container-probes",
    description="Checks whether every serving container has readiness and liveness probes.",
    enforcement=MANDATORY,
    severity="low",
    controls=("NIST SI-4", "NIST CP-10"),
    validators={t: _check_probes for t in POD_SPEC_PATHS if t != "kubernetes:core/v1:Pod"},
    params=(
        Param(
            "httpPath",
            "string",
            "/ping",
            "Required HTTP probe path (the SageMaker container contract); empty for any.",
        ),
    ),
)


def _namespace(subject: Subject) -> str:
    value = peek(subject.props, "metadata.namespace")
    return value if isinstance(value, str) and value else "default"


def _selector_matches(selector: object, labels: Mapping[str, Any]) -> bool:
    wanted = peek(selector, "matchLabels") if isinstance(selector, Mapping) else None
    if not isinstance(wanted, Mapping):
        return False
    return all(labels.get(k) == v for k, v in wanted.items())


def _is_default_deny(check: ResourceCheck, policy: Subject) -> bool:
    selector = check.look(policy, "spec.podSelector")
    types = set(check.look(policy, "spec.policyTypes") or [])
    empty_selector = isinstance(selector, Mapping) and not any(selector.get(k) for k in selector)
    return (
        empty_selector
        and {"Ingress", "Egress"} <= types
        and not check.look(policy, "spec.ingress")
        and not check.look(policy, "spec.egress")
    )


def _check_default_deny(stack: StackCheck) -> None:
    policies = stack.resources(NETWORK_POLICY)
    for workload in stack.resources(*POD_SPEC_PATHS):
        check = stack.check(workload)
        namespace = _namespace(workload)
        check.note("namespace", namespace)
        local = [p for p in policies if _namespace(p) == namespace]
        if not any(_is_default_deny(check, p) for p in local):
            check.violation(
                f"namespace {namespace} must have a default-deny NetworkPolicy (all pods, "
                "Ingress and Egress, no rules)",
                [p.name for p in local] or "no NetworkPolicy",
                'add a NetworkPolicy with pod_selector={}, policy_types=["Ingress", "Egress"], '
                "then allow only the Service port",
            )


DEFAULT_DENY = Policy(
    name="kubernetes-namespace-default-deny",
    description="Checks whether every namespace running workloads has a default-deny "
    "NetworkPolicy for ingress and egress.",
    enforcement=MANDATORY,
    severity="high",
    controls=("CIS-K8S 5.3.2", "NIST SC-7", "NIST AC-4"),
    stack_validator=_check_default_deny,
    subject_types=tuple(POD_SPEC_PATHS),
)


def _check_pdb(stack: StackCheck) -> None:
    budgets = stack.resources(PDB)
    for workload in stack.resources(*SCALABLE):
        check = stack.check(workload)
        labels = check.get("spec.template.metadata.labels") or {}
        namespace = _namespace(workload)
        matching = [
            b
            for b in budgets
            if _namespace(b) == namespace
            and _selector_matches(check.look(b, "spec.selector"), labels)
        ]
        if not matching:
            check.violation(
                "a PodDisruptionBudget must select the workload's pods",
                "no matching PodDisruptionBudget",
                'add a PodDisruptionBudget with max_unavailable=1 and selector={"match_labels": '
                "<the pod labels>}",
            )
            continue
        budget = matching[0]
        bounds = (
            check.look(budget, "spec.minAvailable"),
            check.look(budget, "spec.maxUnavailable"),
        )
        if bounds == (None, None):
            check.violation(
                f"PodDisruptionBudget {budget.name} must bound disruptions",
                "neither min_available nor max_unavailable",
                "set max_unavailable=1",
            )


DISRUPTION_BUDGET = Policy(
    name="kubernetes-workload-disruption-budget",
    description="Checks whether every Deployment and StatefulSet has a PodDisruptionBudget "
    "selecting its pods.",
    enforcement=MANDATORY,
    controls=("NIST SC-5", "NIST SC-6", "NIST CP-10"),
    stack_validator=_check_pdb,
    subject_types=SCALABLE,
)


def _cpu_target(check: ResourceCheck, hpa: Subject) -> float | None:
    for metric in check.look(hpa, "spec.metrics") or []:
        if metric.get("type") == "Resource" and peek(metric, "resource.name") == "cpu":
            return peek(metric, "resource.target.averageUtilization")
    return None


def _check_hpa(stack: StackCheck) -> None:
    autoscalers = stack.resources(HPA)
    low, high = stack.config["cpuTargetMin"], stack.config["cpuTargetMax"]
    minimum = stack.config["minimumReplicas"]
    for workload in stack.resources(*SCALABLE):
        check = stack.check(workload)
        name = check.get("metadata.name")
        namespace = _namespace(workload)
        matching = [
            h
            for h in autoscalers
            if _namespace(h) == namespace
            and peek(h.props, "spec.scaleTargetRef.kind") == _kind(workload.type)
            and peek(h.props, "spec.scaleTargetRef.name") == name
        ]
        if not matching:
            check.violation(
                "a HorizontalPodAutoscaler must scale the workload",
                "no HorizontalPodAutoscaler targeting it",
                "add an autoscaling/v2 HorizontalPodAutoscaler with "
                f'scale_target_ref.name="{name}"',
            )
            continue
        hpa = matching[0]
        floor = check.look(hpa, "spec.minReplicas", 1)
        ceiling = check.look(hpa, "spec.maxReplicas")
        if floor < minimum:
            check.violation(
                f"HorizontalPodAutoscaler {hpa.name} must keep at least {minimum} replicas",
                f"min_replicas {floor:g}",
                f"set min_replicas={minimum}",
            )
        if ceiling is None or ceiling <= floor:
            check.violation(
                f"HorizontalPodAutoscaler {hpa.name} must be able to scale out",
                f"max_replicas {ceiling:g} <= min_replicas {floor:g}" if ceiling else None,
                "set max_replicas above min_replicas",
            )
        target = _cpu_target(check, hpa)
        if target is None or not low <= target <= high:
            check.violation(
                f"HorizontalPodAutoscaler {hpa.name} must target CPU utilization between "
                f"{low}% and {high}%",
                f"{target:g}%" if target is not None else "no CPU utilization metric",
                "set a Resource metric on cpu with average_utilization=65",
            )


AUTOSCALED = Policy(
    name="kubernetes-workload-autoscaled",
    description="Checks whether every Deployment and StatefulSet has a HorizontalPodAutoscaler "
    "on CPU utilization with at least two replicas.",
    enforcement=MANDATORY,
    controls=("NIST SC-5", "NIST SC-6"),
    stack_validator=_check_hpa,
    subject_types=SCALABLE,
    params=(
        Param("minimumReplicas", "integer", 2, "Fewest min_replicas.", minimum=1, maximum=50),
        Param("cpuTargetMin", "integer", 50, "Lowest CPU target (%).", minimum=1, maximum=100),
        Param("cpuTargetMax", "integer", 80, "Highest CPU target (%).", minimum=1, maximum=100),
    ),
)

POLICIES = (
    NAMESPACE_RESTRICTED,
    POD_SECURITY,
    RESOURCES_SET,
    PROBES_SET,
    DEFAULT_DENY,
    DISRUPTION_BUDGET,
    AUTOSCALED,
)
