"""`pulumi up` of the serving layer, replayed by `ml.emulator.rollout` as the stack's deploy
role with IAM enforced: the calls Pulumi makes for the rendered Models, EndpointConfigurations
and Endpoint are the ones the deploy role's conditions admit (network isolation, the stack's
own subnets and security group, the stack's data key), on a stack without a VPC (dev) and
one with (staging). And the edits that would weaken what serves are denied to that role."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from infra.graph import Graph
from ml.emulator import deployments
from ml.emulator import iam as emulator_iam
from ml.emulator.bootstrap import EmulatedStack, bootstrap_stack
from ml.emulator.identities import credentials_for
from ml.emulator.rollout import MODEL_T, apply
from tests.ml.provenance_support import REGION, aws_fixture  # noqa: F401 - fixture

pytestmark = pytest.mark.slow

ADMIN = {
    "region_name": REGION,
    "aws_access_key_id": emulator_iam.ADMINISTRATOR_KEY,
    "aws_secret_access_key": "emulator",
}


class Deployer:
    """A stack bootstrapped from its rendered graph, and a SageMaker client of its deployer."""

    def __init__(self, graph: Graph):
        clients = {name: boto3.client(name, **ADMIN) for name in ("kms", "s3", "sagemaker", "iam")}
        self.graph = graph
        self.emulated: EmulatedStack = bootstrap_stack(graph, **clients)
        credentials = credentials_for(self.emulated, "deploy", boto3.client("sts", **ADMIN))
        self.sagemaker = credentials.session(REGION).client("sagemaker")

    def up(self, graph: Graph | None = None) -> Any:
        with emulator_iam.enforced():
            return apply(self.sagemaker, graph or self.graph, None, rewrite=self.emulated.rewrite())


@pytest.fixture(params=["dev", "staging"])
def deployer(request: pytest.FixtureRequest, aws: Any, graph_of: Any) -> Iterator[Deployer]:
    with deployments.scaled(0.001):
        yield Deployer(graph_of(request.param))
        deployments.settle()


@pytest.fixture
def staging(aws: Any, graph_of: Any) -> Iterator[Deployer]:
    with deployments.scaled(0.001):
        yield Deployer(graph_of("staging"))
        deployments.settle()


def _edited(graph: Graph, **inputs: Any) -> Graph:
    """The graph with every Model's inputs changed as given (a copy)."""
    changed = copy.deepcopy(graph)
    for model in changed.of_type(MODEL_T):
        model.inputs.update(inputs)
    return changed


def test_deploy_role_can_apply_the_rendered_serving(deployer: Deployer) -> None:
    # when the deployer applies the stack's serving as rendered, IAM enforced
    done = deployer.up()
    # then the models and configurations exist and the endpoint serves the first one
    stack = deployer.emulated.stack
    expected = [f"mlops-{stack}-churn-classifier-v1"] * 2  # a Model, then its configuration
    assert (done.endpoint, done.created) == (f"mlops-{stack}-churn-classifier", expected)
    described = deployer.sagemaker.describe_endpoint(EndpointName=done.endpoint)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == expected[1]


def test_deploy_role_cannot_create_a_model_without_network_isolation(deployer: Deployer) -> None:
    # given a program edited to let the model container reach the network
    open_model = _edited(deployer.graph, enableNetworkIsolation=False)
    # when the deployer applies it, then IAM refuses the model
    with pytest.raises(ClientError, match="sagemaker:CreateModel") as denied:
        deployer.up(open_model)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"


def test_deploy_role_cannot_place_a_model_outside_the_stacks_network(staging: Deployer) -> None:
    # given staging's models moved to a subnet that is not one of the stack's
    (model, *_) = staging.graph.of_type(MODEL_T)
    vpc = copy.deepcopy(model.inputs["vpcConfig"])
    vpc["subnets"] = [vpc["subnets"][0], "subnet-0123456789abcdef0"]
    # when the deployer applies it, then IAM refuses the model
    with pytest.raises(ClientError, match="sagemaker:CreateModel"):
        staging.up(_edited(staging.graph, vpcConfig=vpc))
    # and without any VPC at all, too
    with pytest.raises(ClientError, match="sagemaker:CreateModel"):
        staging.up(_edited(staging.graph, vpcConfig=None))


def test_deploy_role_cannot_encrypt_endpoint_volumes_with_another_key(deployer: Deployer) -> None:
    # given configurations whose volumes use a key that is not the stack's data key
    other = boto3.client("kms", **ADMIN).create_key()["KeyMetadata"]["Arn"]
    changed = copy.deepcopy(deployer.graph)
    for config in changed.of_type("aws:sagemaker/endpointConfiguration:EndpointConfiguration"):
        config.inputs["kmsKeyArn"] = other
    # when the deployer applies them, then IAM refuses the configuration
    with pytest.raises(ClientError, match="sagemaker:CreateEndpointConfig"):
        deployer.up(changed)
