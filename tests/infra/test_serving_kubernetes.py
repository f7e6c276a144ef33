"""Kubernetes serving, rendered from the mocks: manifests valid under strict schemas, pods
locked down to the restricted Pod Security Standard, traffic denied unless it is for the
Service's port.

Only staging enables the component; the manifests are the inputs the mocks received,
exactly what the provider would apply (or write with `renderYamlToDirectory`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from infra.graph import Graph

STACK = "staging"
SERVER_PORT = 8080
# Kubernetes minor versions to validate against: an older cluster still common in managed
# services, and the newest schema kubernetes-validate bundles (it ships 1.25 onwards, offline).
KUBERNETES_VERSIONS = ("1.31", kubernetes_validate.utils.latest_version())


def _ints(value: Any) -> Any:
    """The graph carries numbers as protobuf doubles; manifests carry integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_ints(item) for item in value]
    return value


def manifests(graph: Graph) -> list[dict[str, Any]]:
    """Every Kubernetes object of the graph as the manifest the provider would apply."""
    return [_ints(r.inputs) for r in graph.resources if r.type.startswith("kubernetes:")]


def _manifest(graph: Graph, kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        m
        for m in manifests(graph)
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
    return found[0]


def _pod(graph: Graph) -> dict[str, Any]:
    return _manifest(graph, "Deployment")["spec"]["template"]["spec"]


def _container(graph: Graph) -> dict[str, Any]:
    (container,) = _pod(graph)["containers"]
    return container


@pytest.fixture(scope="module")
def graph(graph_of) -> Graph:
    return graph_of(STACK)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_validate_strictly_against_the_kubernetes_schema(
    graph: Graph, version: str
) -> None:
    kinds = set()
    for manifest in manifests(graph):
        validated = kubernetes_validate.validate(manifest, version, strict=True)
        assert validated, f"{manifest['kind']} did not validate against {version}"
        kinds.add(manifest["kind"])
    expected = {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    }
    assert kinds == expected, f"kinds rendered: {sorted(kinds)}"


def test_strict_validation_catches_a_misspelled_field(graph: Graph) -> None:
    # The check above is real: strict mode refuses fields Kubernetes would drop silently.
    deployment = _manifest(graph, "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFS"] = (
        True
    )
    with pytest.raises(kubernetes_validate.ValidationError, match="readOnlyRootFS"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_only_the_stack_that_enables_kubernetes_renders_it(stack_graph: Graph) -> None:
    rendered = [r.name for r in stack_graph.resources if r.type.startswith("kubernetes:")]
    if stack_graph.stack == STACK:
        assert rendered, "staging enables mlops:serving.kubernetes"
    else:
        assert rendered == [], f"{stack_graph.stack} renders Kubernetes objects: {rendered}"


def test_component_declares_an_explicit_provider_that_only_renders_yaml(graph: Graph) -> None:
    (component,) = graph.of_type("mlops:serving:KubernetesServing")
    (provider,) = graph.children(component, "pulumi:providers:kubernetes")
    assert provider.inputs["renderYamlToDirectory"] == "build/k8s/staging", provider.inputs
    objects = [r for r in graph.resources if r.type.startswith("kubernetes:")]
    assert all(r.parent == component.urn for r in objects), "all objects belong to the component"


def test_namespace_enforces_the_restricted_pod_security_standard(graph: Graph) -> None:
    labels = _manifest(graph, "Namespace")["metadata"]["labels"]
    for mode in ("enforce", "audit", "warn"):
        assert labels.get(f"pod-security.kubernetes.io/{mode}") == "restricted", labels


def test_every_object_lives_in_the_serving_namespace(graph: Graph) -> None:
    namespace = _manifest(graph, "Namespace")["metadata"]["name"]
    for manifest in manifests(graph):
        if manifest["kind"] != "Namespace":
            where = manifest["metadata"].get("namespace")
            assert where == namespace, f"{manifest['kind']} is in {where}, not {namespace}"


def test_pods_run_as_a_non_root_user(graph: Graph) -> None:
    pod, container = _pod(graph)["securityContext"], _container(graph)["securityContext"]
    assert pod["runAsNonRoot"] is True and container["runAsNonRoot"] is True, (pod, container)
    assert pod["runAsUser"] > 0 and container["runAsUser"] > 0, (pod, container)


def test_container_root_filesystem_is_read_only(graph: Graph) -> None:
    context = _container(graph)["securityContext"]
    assert context["readOnlyRootFilesystem"] is True, context


def test_container_cannot_escalate_privileges(graph: Graph) -> None:
    context = _container(graph)["securityContext"]
    assert context["allowPrivilegeEscalation"] is False, context
    assert context.get("privileged") is False, context


def test_container_drops_all_capabilities(graph: Graph) -> None:
    capabilities = _container(graph)["securityContext"]["capabilities"]
    assert capabilities == {"drop": ["ALL"]}, f"no capability may be added: {capabilities}"


def test_pod_and_container_use_the_runtime_default_seccomp_profile(graph: Graph) -> None:
    for where, context in (
        ("pod", _pod(graph)["securityContext"]),
        ("container", _container(graph)["securityContext"]),
    ):
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, f"{where}: {context}"


def test_container_declares_requests_and_limits(graph: Graph) -> None:
    resources = _container(graph)["resources"]
    for bound in ("requests", "limits"):
        assert set(resources.get(bound, {})) == {"cpu", "memory"}, f"{bound}: {resources}"


@pytest.mark.parametrize("probe", ["readinessProbe", "livenessProbe"])
def test_probes_ask_ping_on_the_server_port(graph: Graph, probe: str) -> None:
    container = _container(graph)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    check = container[probe]["httpGet"]
    assert check["path"] == "/ping", check
    assert ports.get(check["port"], check["port"]) == SERVER_PORT, (check, ports)


def test_tmp_is_a_writable_empty_dir(graph: Graph) -> None:
    pod, container = _pod(graph), _container(graph)
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "/tmp" in mounts, f"mounts: {mounts}"
    assert "emptyDir" in volumes[mounts["/tmp"]], volumes[mounts["/tmp"]]


def test_service_account_token_is_not_mounted(graph: Graph) -> None:
    assert _pod(graph)["automountServiceAccountToken"] is False, "the server calls no API"
    assert _manifest(graph, "ServiceAccount")["automountServiceAccountToken"] is False


def test_server_verifies_the_model_with_the_mounted_signing_key(graph: Graph) -> None:
    container, pod = _container(graph), _pod(graph)
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["MLOPS_REQUIRE_SIGNATURE"] == "true", env
    key_path = env["MLOPS_SIGNING_PUBLIC_KEY"]
    (mount,) = [m for m in container["volumeMounts"] if key_path.startswith(m["mountPath"] + "/")]
    assert mount.get("readOnly") is True, mount
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    config_map = _manifest(graph, "ConfigMap", volume["configMap"]["name"])
    file_name = key_path.rsplit("/", 1)[1]
    assert config_map["data"][file_name].startswith("-----BEGIN PUBLIC KEY-----"), config_map


def test_image_is_the_stacks_repository_by_the_stack_files_digest(
    graph: Graph, repo_root: Path
) -> None:
    # Given the digest Pulumi.staging.yaml declares (read as YAML, not through the schema)
    document = yaml.safe_load((repo_root / "Pulumi.staging.yaml").read_text(encoding="utf-8"))
    digest = document["config"]["mlops:image"]["digest"]
    # Then the Deployment runs the stack's repository at exactly that digest, not a tag
    (repository,) = graph.of_type("aws:ecr/repository:Repository")
    image = _container(graph)["image"]
    assert image == f"{repository.outputs['repositoryUrl']}@{digest}", image
    by_digest = r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9-]+@sha256:[0-9a-f]{64}"
    assert re.fullmatch(by_digest, image), image


def test_service_routes_to_the_server_port_of_the_pods(graph: Graph) -> None:
    service, deployment = _manifest(graph, "Service"), _manifest(graph, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items(), service["spec"]
    ports = {p["name"]: p["containerPort"] for p in _container(graph)["ports"]}
    (port,) = service["spec"]["ports"]
    assert ports.get(port["targetPort"], port["targetPort"]) == SERVER_PORT, port


def test_autoscaler_targets_the_deployment_at_65_percent_cpu(graph: Graph) -> None:
    hpa = _manifest(graph, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2", hpa["apiVersion"]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "churn-classifier"), target
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu", metric
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 65}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"], hpa["spec"]


def test_deployment_leaves_the_replica_count_to_the_autoscaler(graph: Graph) -> None:
    assert "replicas" not in _manifest(graph, "Deployment")["spec"], "the HPA owns replicas"


def test_disruption_budget_covers_the_pods_and_keeps_serving(graph: Graph) -> None:
    pdb = _manifest(graph, "PodDisruptionBudget")["spec"]
    pod_labels = _manifest(graph, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items(), pdb
    assert pdb.get("maxUnavailable") == 1, f"evict at most one pod at a time: {pdb}"


def _policies(graph: Graph) -> dict[str, dict[str, Any]]:
    return {
        m["metadata"]["name"]: m["spec"] for m in manifests(graph) if m["kind"] == "NetworkPolicy"
    }


def test_default_network_policy_denies_all_traffic_to_and_from_every_pod(graph: Graph) -> None:
    deny = [
        spec
        for spec in _policies(graph).values()
        if spec["podSelector"] == {} and not spec.get("ingress") and not spec.get("egress")
    ]
    assert deny, f"no default-deny policy among {list(_policies(graph))}"
    assert set(deny[0]["policyTypes"]) == {"Ingress", "Egress"}, deny[0]


def test_only_the_server_port_is_allowed_in(graph: Graph) -> None:
    allows = [spec for spec in _policies(graph).values() if spec.get("ingress")]
    assert len(allows) == 1, f"exactly one allow policy: {allows}"
    (rule,) = allows[0]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": SERVER_PORT}], rule["ports"]


def test_allowed_callers_are_the_namespace_and_the_configured_clients(graph: Graph) -> None:
    allows = [spec for spec in _policies(graph).values() if spec.get("ingress")]
    peers = allows[0]["ingress"][0]["from"]
    assert {"podSelector": {}} in peers, f"pods of the serving namespace may call: {peers}"
    namespaces = [
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for p in peers
        if "namespaceSelector" in p
    ]
    assert namespaces == ["ingress-nginx"], f"client namespaces from the stack file: {namespaces}"


def test_objects_are_labelled_with_model_and_version(graph: Graph) -> None:
    for manifest in manifests(graph):
        if manifest["kind"] == "Namespace":
            continue
        labels: dict[str, str] = manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "churn-classifier", manifest["kind"]
        assert labels["app.kubernetes.io/version"] == "1", manifest["kind"]


def test_server_is_told_the_model_stack_and_version_it_serves(graph: Graph) -> None:
    # given the shipped Pulumi.staging.yaml (churn-classifier at version 1 on Kubernetes)
    env = {item["name"]: item["value"] for item in _container(graph)["env"]}
    # then the pods are told exactly what they may serve, and refuse anything else
    told = {
        name: env.get(name) for name in ("MLOPS_MODEL_NAME", "MLOPS_STACK", "MLOPS_MODEL_VERSION")
    }
    assert told == {
        "MLOPS_MODEL_NAME": "churn-classifier",
        "MLOPS_STACK": "staging",
        "MLOPS_MODEL_VERSION": "1",
    }, env
