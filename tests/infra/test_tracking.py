"""Experiment tracking: each stack's MLflow tracking server, its role, and who may log."""

from __future__ import annotations

import json

from infra.graph import Graph, Resource
from tests.infra.helpers import allows, as_list, bucket_name, policy_of, role_policy
from tests.infra.test_config import _error_for

SERVER = "aws:sagemaker/mlflowTrackingServer:MlflowTrackingServer"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def _server(graph: Graph) -> Resource:
    servers = graph.of_type(SERVER)
    assert len(servers) == 1, f"{graph.stack}: one tracking server, found {len(servers)}"
    return servers[0]


def test_every_stack_has_a_tracking_server_storing_under_its_prefix(stack_graph: Graph) -> None:
    server = _server(stack_graph)
    inputs = server.inputs
    artifacts = bucket_name(stack_graph, "artifacts")
    assert inputs["artifactStoreUri"] == f"s3://{artifacts}/mlflow/", inputs
    assert inputs["trackingServerName"] == f"mlops-{stack_graph.stack}", inputs
    assert inputs["trackingServerSize"] == "Small", "the default size"
    assert inputs["automaticModelRegistration"] is False, "only `mlops register` registers"
    role = stack_graph.named(f"mlops-{stack_graph.stack}-tracking", "aws:iam/role:Role")
    assert inputs["roleArn"] == role.outputs["arn"], "the server runs as its own role"
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": ["sagemaker.amazonaws.com"]}], trust


def test_tracking_role_reaches_only_its_prefix_and_the_key_through_s3(stack_graph: Graph) -> None:
    document = role_policy(stack_graph, "tracking")
    artifacts = bucket_name(stack_graph, "artifacts")
    data = bucket_name(stack_graph, "data")
    assert allows(document, "s3:PutObject", f"arn:aws:s3:::{artifacts}/mlflow/1/run/model.pkl")
    # what an attacker with the server's role would go for: models, training data, other keys
    for action, arn in [
        ("s3:PutObject", f"arn:aws:s3:::{artifacts}/models/churn/abc/model.tar.gz"),
        ("s3:GetObject", f"arn:aws:s3:::{artifacts}/training-output/main/x/model.tar.gz"),
        ("s3:GetObject", f"arn:aws:s3:::{data}/datasets/churn/train.csv"),
        ("s3:DeleteObject", f"arn:aws:s3:::{artifacts}/mlflow-old/x"),
    ]:
        assert not allows(document, action, arn), f"tracking role must not {action} {arn}"
    listing = next(s for s in document["Statement"] if "s3:ListBucket" in as_list(s["Action"]))
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "mlflow/*"}}, listing
    key_use = next(s for s in document["Statement"] if s["Sid"] == "UseDataKey")
    assert key_use["Condition"]["StringEquals"]["kms:ViaService"] == "s3.eu-west-1.amazonaws.com"


def test_only_the_launchers_may_log_runs_and_only_on_the_stacks_server(stack_graph: Graph) -> None:
    server_arn = _server(stack_graph).outputs["arn"]
    other = server_arn.replace(f"mlops-{stack_graph.stack}", "someone-else")
    logging_roles = set()
    for policy in stack_graph.of_type(ROLE_POLICY):
        document = policy_of(policy)
        actions = {a for s in document["Statement"] for a in as_list(s["Action"])}
        mlflow = {a for a in actions if a.startswith("sagemaker-mlflow:")}
        if mlflow:
            logging_roles.add(policy.name.removeprefix(f"mlops-{stack_graph.stack}-"))
            assert mlflow == {
                "sagemaker-mlflow:CreateExperiment",
                "sagemaker-mlflow:CreateRun",
                "sagemaker-mlflow:GetExperimentByName",
                "sagemaker-mlflow:GetRun",
                "sagemaker-mlflow:LogBatch",
                "sagemaker-mlflow:UpdateRun",
            }, f"{policy.name}: no delete, no registry, no UI ({sorted(mlflow)})"
            assert allows(document, "sagemaker-mlflow:CreateRun", server_arn), policy.name
            assert not allows(document, "sagemaker-mlflow:CreateRun", other), policy.name
    launchers = {"build"} if stack_graph.stack == "prod" else {"build", "train"}
    assert logging_roles == launchers, f"who logs training runs: {sorted(logging_roles)}"


def test_bad_tracking_size_is_one_line_naming_the_key() -> None:
    message = _error_for({"mlops:tracking": {"size": "Huge"}})
    assert "tracking.size" in message and "\n" not in message, message
