"""Grants the release needs on AWS, found by running the demo under IAM enforcement.

Each test reads the rendered graph's identity and key policies and asks the project's
IAM evaluator (`policies.evaluation`, tested on AWS's own examples) the question AWS
would ask for the call the code makes, with the condition keys that call carries.
"""

from __future__ import annotations

import json

import pytest

from common.iam_document import parse_document
from infra.graph import Graph, Resource
from infra.policy_document import Statement
from policies.evaluation import Policy, Request, evaluate

KEY = "aws:kms/key:Key"
SESSION = "demo"


def _role(graph: Graph, suffix: str) -> Resource:
    return graph.named(f"mlops-{graph.stack}-{suffix}", "aws:iam/role:Role")


def _key(graph: Graph, usage: str) -> Resource:
    (key,) = [
        k
        for k in graph.of_type(KEY)
        if k.inputs.get("keyUsage", "ENCRYPT_DECRYPT") == usage and "logs" not in k.name
    ]
    return key


def _decide(
    graph: Graph,
    suffix: str,
    action: str,
    resource: str,
    context: dict[str, list[str]],
    key: Resource | None = None,
) -> str:
    role = _role(graph, suffix)
    role_arn = str(role.outputs["arn"])
    account = role_arn.split(":")[4]
    caller = f"arn:aws:sts::{account}:assumed-role/{role.id}/{SESSION}"
    identity = [
        Policy(policy.name, parse_document(policy.inputs["policy"]))
        for policy in graph.of_type("aws:iam/rolePolicy:RolePolicy")
        if policy.inputs["role"] == role.id
    ]
    resource_policies = [Policy("key policy", parse_document(key.inputs["policy"]))] if key else []
    request = Request(
        caller, action, resource, {k.lower(): v for k, v in context.items()}, (role_arn,)
    )
    return evaluate(
        request, identity, resource_policies, resource_required=key is not None
    ).decision


@pytest.mark.parametrize("action", ["kms:DescribeKey", "kms:GetPublicKey", "kms:Verify"])
def test_release_role_may_verify_the_artifact_it_registers(stack_graph: Graph, action: str) -> None:
    # `mlops register` verifies the signature through KMS before it uploads anything
    signing = _key(stack_graph, "SIGN_VERIFY")
    decision = _decide(stack_graph, "gh-release", action, str(signing.outputs["arn"]), {}, signing)
    assert decision == "allow", f"gh-release {action} on the signing key: {decision}"


def test_release_role_may_describe_the_data_key_itself(stack_graph: Graph) -> None:
    # `mlops register --kms-key alias/...` asks KMS for the key's ARN: a direct call, so
    # no kms:ViaService in the request
    data = _key(stack_graph, "ENCRYPT_DECRYPT")
    decision = _decide(
        stack_graph, "gh-release", "kms:DescribeKey", str(data.outputs["arn"]), {}, data
    )
    assert decision == "allow", decision
    # but it still cannot decrypt with the data key except through S3
    assert (
        _decide(stack_graph, "gh-release", "kms:Decrypt", str(data.outputs["arn"]), {}, data)
        != "allow"
    )


def test_auditor_may_read_the_model_package_group(stack_graph: Graph) -> None:
    # the auditor's `mlops release verify` describes each model's group
    (group,) = stack_graph.of_type("aws:sagemaker/modelPackageGroup:ModelPackageGroup")
    decision = _decide(
        stack_graph, "auditor", "sagemaker:DescribeModelPackageGroup", str(group.outputs["arn"]), {}
    )
    assert decision == "allow", decision


def test_release_role_holds_no_grant_no_code_path_uses(stack_graph: Graph) -> None:
    # the sign job gets the candidate from the build job's GitHub artifact, never from S3,
    # and `mlops register` registers without tags
    artifacts = stack_graph.named(f"mlops-{stack_graph.stack}-artifacts", "aws:s3/bucket:Bucket")
    output = f"arn:aws:s3:::{artifacts.id}/training-output/main/churn-classifier/model.tar.gz"
    assert _decide(stack_graph, "gh-release", "s3:GetObject", output, {}) != "allow"
    assert (
        _decide(stack_graph, "gh-release", "s3:ListBucket", f"arn:aws:s3:::{artifacts.id}", {})
        != "allow"
    )
    package = (
        str(
            stack_graph.of_type("aws:sagemaker/modelPackageGroup:ModelPackageGroup")[0].outputs[
                "arn"
            ]
        ).replace("model-package-group/", "model-package/")
        + "/1"
    )
    assert _decide(stack_graph, "gh-release", "sagemaker:AddTags", package, {}) != "allow"


def test_demo_justification_stays_out_of_the_rendered_policy(stack_graph: Graph) -> None:
    statement = Statement(
        sid="X",
        actions=["s3:GetObject"],
        resources=["arn:aws:s3:::b/*"],
        unused_in_demo_because="only CI uses it",
    )
    assert "only CI uses it" not in json.dumps(statement.to_dict())
    rendered = json.dumps(
        [p.inputs["policy"] for p in stack_graph.of_type("aws:iam/rolePolicy:RolePolicy")]
    )
    assert "pulumi up" not in rendered and "unused" not in rendered.lower()
