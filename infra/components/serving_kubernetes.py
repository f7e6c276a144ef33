"""Kubernetes serving: the same inference server on a cluster, locked down by default.

One namespace enforcing the `restricted` Pod Security Standard; a Deployment whose pods
run non-root on a read-only root filesystem with no privilege escalation, no
capabilities and the RuntimeDefault seccomp profile, with requests, limits and probes
on `/ping`; a Service; a HorizontalPodAutoscaler (autoscaling/v2, CPU); a
PodDisruptionBudget; and NetworkPolicies that deny everything, then allow only the
Service's port. The release-signing public key is mounted read-only from a ConfigMap so
the server verifies the model offline.

The model reaches the pod verified: an init container (the same image) runs `mlops model
fetch` as the pod's own AWS identity (IRSA: the ServiceAccount names the model-fetch role,
which trusts only this namespace's service account), which resolves the registry version,
downloads `model.tar.gz` and its signature, checks the package and verifies the extracted
model exactly as the server does, into an emptyDir the server then mounts read-only. Only
the init container gets credentials (`eks.amazonaws.com/skip-containers`), and the pods'
only egress is DNS and HTTPS to the VPC endpoints' CIDRs. The version is in the pod
template (label and environment), so a version bump rolls the Deployment and every new
pod fetches the new version. docs/kubernetes.md has the whole path.

The component owns an explicit `kubernetes.Provider`: it either applies to a kubeconfig
context or only renders YAML for a GitOps controller, never an ambient default cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.contracts import Env

SERVER_PORT = 8080
SERVICE_PORT = 80
APP_NAME = "mlops-model-server"
KEY_DIR = "/etc/mlops/keys"
KEY_FILE = "signing-public-key.pem"
MODEL_DIR = "/opt/ml/model"
SERVER = "server"
FETCHER = "fetch-model"
HTTPS_PORT = 443
DNS_PORT = 53
# The EKS pod identity webhook: the role a ServiceAccount's pods assume, and the
# containers it must not give that role's credentials to.
IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
IRSA_REGIONAL_STS_ANNOTATION = "eks.amazonaws.com/sts-regional-endpoints"
IRSA_SKIP_ANNOTATION = "eks.amazonaws.com/skip-containers"
PSS_LEVEL = "restricted"
PSS_LABELS = {
    f"pod-security.kubernetes.io/{mode}{suffix}": value
    for mode in ("enforce", "audit", "warn")
    for suffix, value in (("", PSS_LEVEL), ("-version", "latest"))
}


@dataclass(frozen=True)
class KubernetesServingArgs:
    namespace: str
    """Namespace created for the server, labelled for the restricted Pod Security Standard."""
    model: str
    """Model name in `mlops:models`; names the Deployment, Service and the rest."""
    model_version: int
    """Registry version to serve (the stack file's): fetched, verified, in the pod template."""
    model_group: str
    """Model package group the init container fetches the version from."""
    service_account: str
    """ServiceAccount of the pods: the subject the fetch role's trust policy names."""
    fetch_role_arn: pulumi.Input[str]
    """IAM role the init container assumes through IRSA to read the model."""
    fetch_egress_cidrs: Sequence[str]
    """CIDRs of the VPC endpoints (STS, SageMaker API, S3) the fetch reaches on 443."""
    region: str
    image: pulumi.Input[str]
    """Serving image (`serve` entry point and the `mlops` CLI); the model is fetched."""
    signing_public_key_pem: pulumi.Input[str]
    """PEM of the release-signing key, mounted for the server's offline verification."""
    environment: str
    replicas: int = 2
    """Minimum replicas; the HorizontalPodAutoscaler owns the count (no `spec.replicas`)."""
    max_replicas: int = 6
    cpu_target_percent: int = 65
    cpu_request: str = "500m"
    cpu_limit: str = "1"
    memory_request: str = "512Mi"
    memory_limit: str = "1Gi"
    run_as_user: int = 10001
    """Numeric UID/GID the server runs as (never 0)."""
    client_namespaces: Sequence[str] = ()
    """Other namespaces whose pods may call the Service; the own namespace always may."""
    context: str | None = None
    """kubeconfig context to apply to; None means the current context of $KUBECONFIG."""
    render_yaml_to_directory: str | None = None
    """If set, write manifests here instead of applying them (no cluster is contacted)."""


class KubernetesServing(pulumi.ComponentResource):
    """Namespace, Deployment, Service, HPA, PDB and default-deny NetworkPolicies."""

    namespace: pulumi.Output[str]
    service_name: pulumi.Output[str]
    deployment_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: KubernetesServingArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("mlops:serving:KubernetesServing", name, None, opts)
        provider = k8s.Provider(
            f"{name}-cluster",
            context=args.context,
            render_yaml_to_directory=args.render_yaml_to_directory,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        app = args.model
        selector = {"app.kubernetes.io/name": APP_NAME, "app.kubernetes.io/instance": app}
        labels = {
            **selector,
            "app.kubernetes.io/version": str(args.model_version),
            "app.kubernetes.io/part-of": "mlops",
            "app.kubernetes.io/managed-by": "pulumi",
            "mlops/environment": args.environment,
        }

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": args.namespace,
                "labels": {**PSS_LABELS, "app.kubernetes.io/part-of": "mlops"},
            },
            opts=child,
        )
        ns = namespace.metadata.name

        def meta(object_name: str) -> dict[str, object]:
            return {"name": object_name, "namespace": ns, "labels": labels}

        account = k8s.core.v1.ServiceAccount(
            f"{name}-account",
            metadata={
                **meta(args.service_account),
                "annotations": {
                    IRSA_ROLE_ANNOTATION: args.fetch_role_arn,
                    IRSA_REGIONAL_STS_ANNOTATION: "true",
                },
            },
            automount_service_account_token=False,
            opts=child,
        )
        key = k8s.core.v1.ConfigMap(
            f"{name}-signing-key",
            metadata=meta(f"{app}-signing-key"),
            data={KEY_FILE: args.signing_public_key_pem},
            immutable=True,
            opts=child,
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(app),
            spec={
                "selector": {"match_labels": selector},
                "strategy": {
                    "type": "RollingUpdate",
                    "rolling_update": {"max_unavailable": 0, "max_surge": 1},
                },
                "template": {
                    # The server never holds the fetch role's credentials.
                    "metadata": {"labels": labels, "annotations": {IRSA_SKIP_ANNOTATION: SERVER}},
                    "spec": _pod_spec(args, account, key, selector),
                },
            },
            opts=child,
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(app),
            spec={
                "type": "ClusterIP",
                "selector": selector,
                "ports": [
                    {
                        "name": "http",
                        "port": SERVICE_PORT,
                        "target_port": "http",
                        "protocol": "TCP",
                    }
                ],
            },
            opts=child,
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-autoscaler",
            metadata=meta(app),
            spec={
                "scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": app},
                "min_replicas": args.replicas,
                "max_replicas": args.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {
                                "type": "Utilization",
                                "average_utilization": args.cpu_target_percent,
                            },
                        },
                    }
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[deployment]),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-disruption-budget",
            metadata=meta(app),
            spec={"max_unavailable": 1, "selector": {"match_labels": selector}},
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=meta("default-deny-all"),
            spec={"pod_selector": {}, "policy_types": ["Ingress", "Egress"]},
            opts=child,
        )
        peers: list[dict[str, object]] = [{"pod_selector": {}}]
        peers += [
            {"namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": client}}}
            for client in args.client_namespaces
        ]
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-http",
            metadata=meta(f"{app}-allow-http"),
            spec={
                "pod_selector": {"match_labels": selector},
                "policy_types": ["Ingress"],
                "ingress": [{"from_": peers, "ports": [{"protocol": "TCP", "port": SERVER_PORT}]}],
            },
            opts=child,
        )
        # The fetch reaches the registry, S3 and STS through the VPC endpoints, nothing else;
        # NetworkPolicy is per pod, and the server container holds no credentials to use it.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-fetch",
            metadata=meta(f"{app}-allow-fetch"),
            spec={
                "pod_selector": {"match_labels": selector},
                "policy_types": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespace_selector": {
                                    "match_labels": {"kubernetes.io/metadata.name": "kube-system"}
                                },
                                "pod_selector": {"match_labels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [
                            {"protocol": "UDP", "port": DNS_PORT},
                            {"protocol": "TCP", "port": DNS_PORT},
                        ],
                    },
                    {
                        "to": [{"ip_block": {"cidr": cidr}} for cidr in args.fetch_egress_cidrs],
                        "ports": [{"protocol": "TCP", "port": HTTPS_PORT}],
                    },
                ],
            },
            opts=child,
        )
        self.namespace = ns
        self.service_name = service.metadata.name
        self.deployment_name = deployment.metadata.name
        self.register_outputs(
            {
                "namespace": self.namespace,
                "service_name": self.service_name,
                "deployment_name": self.deployment_name,
            }
        )


def _pod_spec(
    args: KubernetesServingArgs,
    account: k8s.core.v1.ServiceAccount,
    key: k8s.core.v1.ConfigMap,
    selector: dict[str, str],
) -> dict[str, object]:
    uid = args.run_as_user
    seccomp = {"type": "RuntimeDefault"}
    probe = {"http_get": {"path": "/ping", "port": "http"}, "timeout_seconds": 2}
    container_security = {
        "run_as_non_root": True,
        "run_as_user": uid,
        "run_as_group": uid,
        "allow_privilege_escalation": False,
        "read_only_root_filesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccomp_profile": seccomp,
    }
    resources = {
        "requests": {"cpu": args.cpu_request, "memory": args.memory_request},
        "limits": {"cpu": args.cpu_limit, "memory": args.memory_limit},
    }
    # What this Deployment must serve: the fetch verifies it, the server refuses anything else.
    # The version here is what rolls the Deployment when the stack file bumps it.
    verification = [
        {"name": "SM_MODEL_DIR", "value": MODEL_DIR},
        {"name": Env.REQUIRE_SIGNATURE, "value": "true"},
        {"name": Env.SIGNING_PUBLIC_KEY, "value": f"{KEY_DIR}/{KEY_FILE}"},
        {"name": Env.MODEL_NAME, "value": args.model},
        {"name": Env.STACK, "value": args.environment},
        {"name": Env.MODEL_VERSION, "value": str(args.model_version)},
    ]
    tmp = {"name": "tmp", "mount_path": "/tmp"}  # noqa: S108 - a private emptyDir
    signing_key = {"name": "signing-key", "mount_path": KEY_DIR, "read_only": True}
    fetcher = {
        "name": FETCHER,
        "image": args.image,
        "image_pull_policy": "IfNotPresent",
        # The entry point runs any other command as given.
        "args": ["mlops", "model", "fetch", "--group", args.model_group, "--to", MODEL_DIR],
        "env": [
            *verification,
            {"name": "AWS_REGION", "value": args.region},
            {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"},
        ],
        "resources": resources,
        "security_context": container_security,
        "volume_mounts": [tmp, signing_key, {"name": "model", "mount_path": MODEL_DIR}],
    }
    return {
        "service_account_name": account.metadata.name,
        # No Kubernetes API token: IRSA projects its own STS-audience token (init only).
        "automount_service_account_token": False,
        "enable_service_links": False,
        "security_context": {
            "run_as_non_root": True,
            "run_as_user": uid,
            "run_as_group": uid,
            "fs_group": uid,
            "seccomp_profile": seccomp,
        },
        "topology_spread_constraints": [
            {
                "max_skew": 1,
                "topology_key": "topology.kubernetes.io/zone",
                "when_unsatisfiable": "ScheduleAnyway",
                "label_selector": {"match_labels": selector},
            }
        ],
        "init_containers": [fetcher],
        "containers": [
            {
                "name": SERVER,
                "image": args.image,
                "image_pull_policy": "IfNotPresent",
                # SageMaker starts the container as `<image> serve`; so does the cluster.
                "args": ["serve"],
                "ports": [{"name": "http", "container_port": SERVER_PORT, "protocol": "TCP"}],
                "env": verification,
                "resources": resources,
                # The server answers /ping 200 only once the model's signature verified.
                "readiness_probe": {**probe, "period_seconds": 5, "failure_threshold": 3},
                "liveness_probe": {
                    **probe,
                    "initial_delay_seconds": 30,
                    "period_seconds": 10,
                    "failure_threshold": 6,
                },
                "security_context": container_security,
                "volume_mounts": [
                    tmp,
                    signing_key,
                    {"name": "model", "mount_path": MODEL_DIR, "read_only": True},
                ],
            }
        ],
        "volumes": [
            {"name": "tmp", "empty_dir": {"size_limit": "256Mi"}},
            {"name": "model", "empty_dir": {"size_limit": "1Gi"}},
            {
                "name": "signing-key",
                "config_map": {
                    "name": key.metadata.name,
                    "default_mode": 0o444,
                },
            },
        ],
    }
