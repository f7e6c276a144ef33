"""How the model reaches the Kubernetes pods, read from the rendered staging graph: an init
container fetches the stack file's version as the pod's own IRSA role, the only egress is
DNS and HTTPS to the VPC endpoints, and a version bump rolls the Deployment. The IRSA
role's trust and policy are attacked with the project's IAM evaluator.

The fetch itself, run as a process against the emulator, is
tests/ml/release/test_kubernetes_fetch.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from common.iam_document import parse_document
from infra.graph import Graph, Resource
from infra.offline import render_graph
from policies.evaluation import Policy, Request, evaluate
from tests.infra.helpers import bucket_name
from tests.infra.test_serving_kubernetes import STACK, _container, _manifest, _pod, _policies

ACCOUNT = "123456789012"  # the mocks' account
ISSUER = "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"
SERVING_ACCOUNT = "system:serviceaccount:mlops-serving:churn-classifier"
GROUP = "mlops-staging-churn-classifier"
PACKAGE_ARN = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/{GROUP}/1"


@pytest.fixture(scope="module")
def graph(graph_of) -> Graph:
    return graph_of(STACK)


def _init(graph: Graph) -> dict[str, Any]:
    (init,) = _pod(graph)["initContainers"]
    return init


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


# ---- the pod -----------------------------------------------------------------------------


def test_init_container_fetches_the_served_group_into_the_model_volume(graph: Graph) -> None:
    init, server = _init(graph), _container(graph)
    # the same image (the `mlops` CLI is in it), fetching the served group
    assert init["image"] == server["image"], (init["image"], server["image"])
    assert init["args"] == ["mlops", "model", "fetch", "--group", GROUP, "--to", "/opt/ml/model"]
    # verifying with the server's own settings: key, model, stack and version
    for name in ("MLOPS_SIGNING_PUBLIC_KEY", "MLOPS_MODEL_NAME", "MLOPS_STACK", "SM_MODEL_DIR"):
        assert _env(init)[name] == _env(server)[name], name
    assert _env(init)["MLOPS_MODEL_VERSION"] == "1", _env(init)
    # into a volume the init container writes and the server only reads
    fetched = {m["mountPath"]: m for m in init["volumeMounts"]}["/opt/ml/model"]
    served = {m["mountPath"]: m for m in server["volumeMounts"]}["/opt/ml/model"]
    assert fetched["name"] == served["name"], (fetched, served)
    assert not fetched.get("readOnly") and served.get("readOnly") is True, (fetched, served)
    volumes = {v["name"]: v for v in _pod(graph)["volumes"]}
    assert "emptyDir" in volumes[served["name"]], volumes[served["name"]]


def test_init_container_is_as_locked_down_as_the_server(graph: Graph) -> None:
    init, server = _init(graph), _container(graph)
    assert init["securityContext"] == server["securityContext"], init["securityContext"]
    assert init["resources"] == server["resources"], init["resources"]


def test_service_account_names_the_fetch_role_and_only_the_init_container_gets_it(
    graph: Graph,
) -> None:
    account = _manifest(graph, "ServiceAccount")
    annotations = account["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"] == _fetch_role(graph).outputs["arn"]
    assert _pod(graph)["serviceAccountName"] == account["metadata"]["name"] == "churn-classifier"
    template = _manifest(graph, "Deployment")["spec"]["template"]["metadata"]
    # the pod identity webhook must not hand the role's credentials to the server
    skipped = template["annotations"]["eks.amazonaws.com/skip-containers"]
    assert skipped == _container(graph)["name"], template


def test_egress_is_only_dns_and_https_to_the_configured_endpoint_cidrs(graph: Graph) -> None:
    # given Pulumi.staging.yaml's fetchEgressCidrs: the subnets of the cluster's VPC endpoints
    egress = [spec for spec in _policies(graph).values() if spec.get("egress")]
    assert len(egress) == 1, f"exactly one egress allow policy: {egress}"
    dns, https = egress[0]["egress"]
    # then DNS goes to kube-dns only
    (peer,) = dns["to"]
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"
    }
    assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}, peer
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    # and HTTPS only to the endpoints' CIDRs: no 0.0.0.0/0, no other port
    assert https["to"] == [
        {"ipBlock": {"cidr": "10.60.0.0/24"}},
        {"ipBlock": {"cidr": "10.60.1.0/24"}},
    ], https["to"]
    assert https["ports"] == [{"protocol": "TCP", "port": 443}], https["ports"]


def test_a_version_bump_changes_the_pod_template_so_the_deployment_rolls(
    graph: Graph, repo_root: Path, tmp_path: Path
) -> None:
    # given the release PR's one-line change: churn-classifier 1 -> 2 in Pulumi.staging.yaml
    text = (repo_root / "Pulumi.staging.yaml").read_text()
    old = "    churn-classifier:\n      version: 1\n"
    assert old in text, "Pulumi.staging.yaml no longer serves churn-classifier v1"
    (tmp_path / "Pulumi.staging.yaml").write_text(text.replace(old, old.replace("1", "2")))
    bumped = Graph.from_json(render_graph(STACK, tmp_path))
    # then the pod template changes where the fetch and the server read the version
    before = _manifest(graph, "Deployment")["spec"]["template"]
    after = _manifest(bumped, "Deployment")["spec"]["template"]
    assert before != after, "the Deployment would not roll"
    assert _env(_init(bumped))["MLOPS_MODEL_VERSION"] == "2", _env(_init(bumped))
    assert _env(_container(bumped))["MLOPS_MODEL_VERSION"] == "2", _env(_container(bumped))
    assert after["metadata"]["labels"]["app.kubernetes.io/version"] == "2", after["metadata"]


# ---- IRSA: the fetch role's trust ---------------------------------------------------------


def _fetch_role(graph: Graph) -> Resource:
    (role,) = [r for r in graph.of_type("aws:iam/role:Role") if r.name.endswith("-k8s-serving")]
    return role


def _web_identity(sub: str, aud: str = "sts.amazonaws.com", provider: str = PROVIDER) -> Request:
    issuer = provider.split(":oidc-provider/", 1)[1]
    return Request(
        principal=provider,
        action="sts:AssumeRoleWithWebIdentity",
        resource=f"arn:aws:iam::{ACCOUNT}:role/mlops-staging-k8s-serving",
        context={f"{issuer}:sub".lower(): [sub], f"{issuer}:aud".lower(): [aud]},
    )


def _assumes(graph: Graph, request: Request) -> bool:
    trust = [Policy("trust", parse_document(_fetch_role(graph).inputs["assumeRolePolicy"]))]
    return evaluate(request, [], trust, resource_required=True).allowed


def test_fetch_role_trusts_the_serving_service_account_of_the_cluster(graph: Graph) -> None:
    assert _assumes(graph, _web_identity(SERVING_ACCOUNT)), "the pods cannot fetch their model"


@pytest.mark.parametrize(
    "attacker",
    [
        _web_identity("system:serviceaccount:mlops-serving:default"),
        _web_identity("system:serviceaccount:attacker:churn-classifier"),
        _web_identity("system:serviceaccount:mlops-serving:churn-classifier-x"),
        _web_identity(SERVING_ACCOUNT, aud="https://kubernetes.default.svc"),
        _web_identity(
            SERVING_ACCOUNT,
            provider=f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/X",
        ),
    ],
    ids=[
        "other-service-account",
        "same-name-other-namespace",
        "name-prefix",
        "other-audience",
        "other-cluster",
    ],
)
def test_fetch_role_refuses_every_other_token(graph: Graph, attacker: Request) -> None:
    assert not _assumes(graph, attacker), f"{attacker.context} assumed the pods' fetch role"


# ---- IRSA: what the fetch role may do -----------------------------------------------------


def _may(graph: Graph, action: str, resource: str, **context: list[str]) -> bool:
    (policy,) = [
        r for r in graph.of_type("aws:iam/rolePolicy:RolePolicy") if r.name.endswith("-kubernetes")
    ]
    role = f"arn:aws:sts::{ACCOUNT}:assumed-role/mlops-staging-k8s-serving/pod"
    request = Request(role, action, resource, context={k.lower(): v for k, v in context.items()})
    return evaluate(request, [Policy("fetch", parse_document(policy.inputs["policy"]))]).allowed


def _object(graph: Graph, key: str) -> str:
    return f"arn:aws:s3:::{bucket_name(graph, 'artifacts')}/{key}"


def test_fetch_role_reads_its_groups_signed_models_and_packages(graph: Graph) -> None:
    digest = "a" * 64
    assert _may(graph, "s3:GetObject", _object(graph, f"models/{GROUP}/{digest}/model.tar.gz"))
    assert _may(graph, "sagemaker:DescribeModelPackage", PACKAGE_ARN)
    group_arn = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package-group/{GROUP}"
    assert _may(graph, "sagemaker:DescribeModelPackageGroup", group_arn)


@pytest.mark.parametrize(
    ("action", "key"),
    [
        ("s3:GetObject", "models/mlops-staging-fraud-detector/d/model.tar.gz"),
        ("s3:GetObject", f"models/{GROUP}-old/d/model.tar.gz"),
        ("s3:GetObject", "datasets/churn-classifier/d/train/train.csv"),
        ("s3:GetObject", "training-output/main/job/output/model.tar.gz"),
        ("s3:PutObject", f"models/{GROUP}/d/model.tar.gz"),
    ],
    ids=["other-group", "sibling-prefix", "training-data", "training-output", "overwrite"],
)
def test_fetch_role_cannot_reach_other_prefixes(graph: Graph, action: str, key: str) -> None:
    assert not _may(graph, action, _object(graph, key)), f"the pods' role may {action} {key}"


def test_fetch_role_decrypts_only_through_s3_and_cannot_approve(graph: Graph) -> None:
    data_key = graph.named("mlops-staging-data-key", "aws:kms/key:Key").outputs["arn"]
    via_s3 = {"kms:ViaService": ["s3.eu-west-1.amazonaws.com"]}
    assert _may(graph, "kms:Decrypt", data_key, **via_s3), "S3 cannot decrypt the model for it"
    assert not _may(graph, "kms:Decrypt", data_key), "Decrypt outside S3: any ciphertext"
    assert not _may(graph, "sagemaker:UpdateModelPackage", PACKAGE_ARN), "the pods approve"
    other = f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/mlops-staging-fraud-detector/1"
    assert not _may(graph, "sagemaker:DescribeModelPackage", other), "it reads other groups"
