"""Kubernetes policies: restricted pods, resources, probes, NetworkPolicy, PDB, HPA."""

from __future__ import annotations

import pytest

from policies import kubernetes
from tests.policies.fixtures import (
    LABELS,
    container,
    deployment,
    hpa,
    namespace,
    network_policy,
    pdb,
)
from tests.policies.harness import Res, only_message, run_policy, statuses_of

DEPLOYMENT = "Deployment `mlops-prod-k8s-deployment`: "


def _cluster(**overrides):
    resources = {
        "namespace": namespace(),
        "deployment": deployment(),
        "deny": network_policy(),
        "pdb": pdb(),
        "hpa": hpa(),
        **overrides,
    }
    return [r for r in resources.values() if r is not None]


@pytest.mark.parametrize("policy", kubernetes.POLICIES, ids=lambda p: p.name)
def test_kubernetes_policy_compliant_serving_passes(policy):
    # Given the serving namespace, Deployment, default-deny policy, PDB and HPA
    # When each Kubernetes policy runs
    messages = run_policy(policy, *_cluster())
    # Then nothing is reported
    assert messages == [], f"{policy.name} must pass compliant manifests: {messages}"


@pytest.mark.parametrize(
    ("labels", "found"),
    [
        ({}, "found no enforce label"),
        (
            {"pod-security.kubernetes.io/enforce": "baseline"},
            "pod-security.kubernetes.io/enforce=baseline",
        ),
    ],
    ids=["unlabelled", "baseline"],
)
def test_namespace_policy_weak_pod_security_reports_label(labels, found):
    # Given a namespace without the restricted enforce label
    # When the namespace policy runs
    messages = run_policy(kubernetes.NAMESPACE_RESTRICTED, namespace(labels))
    # Then the label and its required value are named
    only_message(messages, "namespace `mlops-prod-k8s-namespace`: ", found, '"restricted"')


def _secured(**context_changes):
    ctx = {**container()["securityContext"], **context_changes}
    return deployment([container(securityContext={k: v for k, v in ctx.items() if v is not None})])


@pytest.mark.parametrize(
    ("resource", "fragments"),
    [
        (
            _secured(allowPrivilegeEscalation=None),
            ["allowPrivilegeEscalation must be false", "found not set"],
        ),
        (_secured(privileged=True), ["must not be privileged"]),
        (
            _secured(capabilities={"drop": ["NET_RAW"]}),
            ["must drop ALL capabilities", 'found ["NET_RAW"]'],
        ),
        (_secured(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}), ["SYS_ADMIN"]),
        (_secured(readOnlyRootFilesystem=False), ["root filesystem must be read-only"]),
        (_secured(runAsUser=0.0), ["must not run as UID 0"]),
        (deployment(hostNetwork=True), ["must not use hostNetwork"]),
        (
            deployment(volumes=[{"name": "docker", "hostPath": {"path": "/var/run"}}]),
            ["hostPath", 'found ["docker"]'],
        ),
        (
            deployment(
                [container(ports=[{"containerPort": 8080.0, "hostPort": 8080.0}])],
            ),
            ["must not bind host ports"],
        ),
    ],
    ids=[
        "escalation",
        "privileged",
        "caps-kept",
        "caps-added",
        "writable-root",
        "uid-0",
        "host-network",
        "host-path",
        "host-port",
    ],
)
def test_pod_security_policy_unrestricted_pod_reports_setting(resource, fragments):
    # Given a pod template breaking one rule of the restricted standard
    # When the pod security policy runs
    messages = run_policy(kubernetes.POD_SECURITY, resource)
    # Then the container or pod setting is named
    only_message(messages, DEPLOYMENT, *fragments)


def test_pod_security_policy_root_and_unconfined_pod_reports_each_rule():
    # Given a pod with no securityContext anywhere
    bare = container(securityContext=None)
    resource = deployment([bare], securityContext=None)
    # When the pod security policy runs
    messages = run_policy(kubernetes.POD_SECURITY, resource)
    # Then non-root, seccomp, capabilities, escalation and read-only root are all asked for
    text = "\n".join(messages)
    for rule in ("non-root", "seccomp", "drop ALL", "allowPrivilegeEscalation", "read-only"):
        assert rule in text, f"{rule!r} missing from {messages}"


def test_pod_security_policy_pod_level_seccomp_satisfies_containers():
    # Given seccomp set on the pod only (containers inherit it)
    ctx = {k: v for k, v in container()["securityContext"].items() if k != "seccompProfile"}
    resource = deployment([container(securityContext=ctx)])
    # When the pod security policy runs
    messages = run_policy(kubernetes.POD_SECURITY, resource)
    # Then the inherited profile counts
    assert messages == [], f"a pod-level RuntimeDefault profile must suffice: {messages}"


@pytest.mark.parametrize(
    ("resources", "fragments"),
    [
        (
            {"requests": {"cpu": "1"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            ["requests must set cpu, memory", 'found ["cpu"]', "resources.requests for memory"],
        ),
        (
            {"requests": {"cpu": "1", "memory": "1Gi"}},
            ["limits must set cpu, memory", "found not set"],
        ),
    ],
    ids=["no-memory-request", "no-limits"],
)
def test_resources_policy_missing_resource_reports_section(resources, fragments):
    # Given a container missing a request or its limits
    resource = deployment([container(resources=resources)])
    # When the resources policy runs
    messages = run_policy(kubernetes.RESOURCES_SET, resource)
    # Then the section and the missing resource are named
    only_message(messages, DEPLOYMENT, "container server", *fragments)


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"livenessProbe": None}, ["a livenessProbe is required"]),
        (
            {"readinessProbe": {"httpGet": {"path": "/health", "port": "http"}}},
            ["readinessProbe must call /ping", "found /health"],
        ),
    ],
    ids=["no-liveness", "wrong-path"],
)
def test_probes_policy_missing_or_wrong_probe_reported(changes, fragments):
    # Given a container without a liveness probe, or probing another path
    resource = deployment([container(**changes)])
    # When the probes policy runs
    messages = run_policy(kubernetes.PROBES_SET, resource)
    # Then the probe is named
    only_message(messages, DEPLOYMENT, *fragments)


@pytest.mark.parametrize(
    "deny",
    [
        None,
        network_policy({"podSelector": {}, "policyTypes": ["Ingress"]}),
        network_policy(
            {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
            }
        ),
        network_policy(namespace="other"),
    ],
    ids=["none", "ingress-only", "allows-egress", "other-namespace"],
)
def test_default_deny_policy_open_namespace_reported(deny):
    # Given a workload namespace without a full default-deny policy
    # When the default-deny policy runs
    messages = run_policy(kubernetes.DEFAULT_DENY, *_cluster(deny=deny))
    # Then the namespace is named with the policy to add
    only_message(
        messages,
        DEPLOYMENT,
        "namespace mlops-serving must have a default-deny",
        'policy_types=["Ingress", "Egress"]',
    )


@pytest.mark.parametrize(
    ("budget", "fragment"),
    [
        (None, "found no matching PodDisruptionBudget"),
        (
            pdb({"maxUnavailable": 1.0, "selector": {"matchLabels": {"app": "other"}}}),
            "found no matching PodDisruptionBudget",
        ),
        (pdb({"selector": {"matchLabels": LABELS}}), "must bound disruptions"),
    ],
    ids=["none", "other-pods", "unbounded"],
)
def test_pdb_policy_unprotected_workload_reported(budget, fragment):
    # Given a workload without a usable PodDisruptionBudget
    # When the PDB policy runs
    messages = run_policy(kubernetes.DISRUPTION_BUDGET, *_cluster(pdb=budget))
    # Then the gap is reported
    only_message(messages, DEPLOYMENT, fragment)


@pytest.mark.parametrize(
    ("autoscaler", "fragments"),
    [
        (None, ["found no HorizontalPodAutoscaler targeting it", 'scale_target_ref.name="m"']),
        (hpa(minReplicas=1.0), ["at least 2 replicas", "found min_replicas 1"]),
        (hpa(maxReplicas=2.0), ["able to scale out", "found max_replicas 2 <= min_replicas 2"]),
        (hpa(metrics=[]), ["between 50% and 80%", "found no CPU utilization metric"]),
        (
            hpa(scaleTargetRef={"kind": "Deployment", "name": "other"}),
            ["found no HorizontalPodAutoscaler"],
        ),
    ],
    ids=["none", "one-replica", "no-headroom", "no-cpu", "other-target"],
)
def test_hpa_policy_unscaled_workload_reports_setting(autoscaler, fragments):
    # Given a workload whose autoscaler is missing or misconfigured
    # When the HPA policy runs
    messages = run_policy(kubernetes.AUTOSCALED, *_cluster(hpa=autoscaler))
    # Then the setting is reported
    only_message(messages, DEPLOYMENT, *fragments)


def test_probes_policy_job_not_applicable():
    # Given a batch Job (runs to completion)
    job = Res(
        "kubernetes:batch/v1:Job",
        "drift-job",
        {"spec": {"template": {"spec": {"containers": [container(livenessProbe=None)]}}}},
    )
    # When the probes policy runs
    statuses = statuses_of(kubernetes.PROBES_SET, job)
    # Then probes are not required of it
    assert statuses == {"drift-job": "not-applicable"}, statuses
