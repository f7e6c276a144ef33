"""Separation of duties in the rendered graph: who may assume each role, what the release,
approver, deploy and plan roles may (not) do, the conditions on the SageMaker calls that
could switch a control off, and the logs key. Expected values are literals or read from
the graph's other side (the key, subnet and security group a policy must name)."""

from __future__ import annotations

import json

import pytest

from infra.graph import Graph, Resource
from tests.infra.helpers import allows, as_list, bucket_name, policy_of, role_policy, statements

ACCOUNT_ROOT = "arn:aws:iam::123456789012:root"


def _role(graph: Graph, suffix: str) -> Resource:
    return graph.named(f"mlops-{graph.stack}-{suffix}", "aws:iam/role:Role")


def _trust(graph: Graph, suffix: str) -> dict[str, dict]:
    return statements(policy_of(_role(graph, suffix), "assumeRolePolicy"))


def _actions(document: dict, effect: str = "Allow") -> set[str]:
    return {
        action
        for statement in document["Statement"]
        if statement["Effect"] == effect
        for action in as_list(statement["Action"])
    }


def _granting(document: dict, action: str) -> list[dict]:
    return [
        s
        for s in document["Statement"]
        if s["Effect"] == "Allow" and action in as_list(s["Action"])
    ]


def _key_arn(graph: Graph, role: str) -> str:
    return graph.named(f"mlops-{graph.stack}-{role}-key", "aws:kms/key:Key").outputs["arn"]


def test_auditor_role_trusts_named_people_with_mfa_never_the_account(stack_graph: Graph) -> None:
    trust = _trust(stack_graph, "auditor")
    assert list(trust) == ["AuditorsAssumeWithMfa"], list(trust)
    statement = trust["AuditorsAssumeWithMfa"]
    assert statement["Principal"] == {"AWS": ["arn:aws:iam::111122223333:user/example-auditor"]}
    assert statement["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    assert ":root" not in json.dumps(statement), "never the account root"


def test_prod_approver_trusts_the_approval_environment_and_named_people_with_mfa(graph_of) -> None:
    trust = _trust(graph_of("prod"), "gh-approve")
    github = trust["GitHubActionsAssume"]["Condition"]["StringEquals"]
    assert github["token.actions.githubusercontent.com:sub"] == (
        "repo:acme/mlops-gitops:environment:model-approval-prod"
    )
    people = trust["ApproversAssumeWithMfa"]
    assert people["Principal"] == {
        "AWS": ["arn:aws:iam::111122223333:user/example-release-manager"]
    }
    assert people["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


def test_dev_approver_without_named_approvers_trusts_only_its_environment(graph_of) -> None:
    assert list(_trust(graph_of("dev"), "gh-approve")) == ["GitHubActionsAssume"]


def test_release_role_is_explicitly_denied_approving(stack_graph: Graph) -> None:
    # The attack: the signer registers its package as Approved, or approves it afterwards.
    document = role_policy(stack_graph, "release")
    by_sid = statements(document)
    never = by_sid["NeverApprove"]
    assert never["Effect"] == "Deny" and never["Resource"] == ["*"], never
    assert never["Action"] == ["sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage"]
    assert never["Condition"] == {"StringEquals": {"sagemaker:ModelApprovalStatus": "Approved"}}
    update = by_sid["NeverUpdatePackages"]
    assert (update["Effect"], update["Action"], update["Resource"]) == (
        "Deny",
        ["sagemaker:UpdateModelPackage"],
        ["*"],
    ), update


def test_release_role_registers_only_pending_packages(stack_graph: Graph) -> None:
    (create,) = _granting(role_policy(stack_graph, "release"), "sagemaker:CreateModelPackage")
    assert create["Condition"] == {
        "StringEquals": {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}
    }, create


def test_release_role_signs_and_writes_models_but_reads_no_training_output(
    stack_graph: Graph,
) -> None:
    # the sign job gets main's candidate from the build job (a GitHub artifact), so the
    # signer reads no training output at all, a pull request's least of all
    document = role_policy(stack_graph, "release")
    artifacts = f"arn:aws:s3:::{bucket_name(stack_graph, 'artifacts')}"
    key = "churn-classifier/job-1/output/model.tar.gz"
    assert allows(document, "kms:Sign", _key_arn(stack_graph, "signing")), "signs manifests"
    for scope in ("main", "pull-requests/7"):
        assert not allows(document, "s3:GetObject", f"{artifacts}/training-output/{scope}/{key}")
    assert allows(document, "s3:PutObject", f"{artifacts}/models/mlops-x-churn/sha/model.tar.gz")
    assert not allows(document, "s3:PutObject", f"{artifacts}/signatures/x.sig"), "no signatures/"


def test_approver_may_only_review_and_approve_packages(stack_graph: Graph) -> None:
    document = role_policy(stack_graph, "approve")
    assert _actions(document) == {
        "sagemaker:DescribeModelPackage",
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:ListModelPackages",
        "sagemaker:UpdateModelPackage",
    }, _actions(document)
    env = stack_graph.stack
    (update,) = _granting(document, "sagemaker:UpdateModelPackage")
    assert update["Resource"] == [
        f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/mlops-{env}-*"
    ], update["Resource"]


def test_deployer_can_neither_sign_register_nor_approve(stack_graph: Graph) -> None:
    granted = _actions(role_policy(stack_graph, "deploy"))
    forbidden = {"kms:Sign", "sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage"}
    assert not granted & forbidden, sorted(granted & forbidden)


def test_prod_plan_role_is_metadata_only(graph_of) -> None:
    # Pull requests reach the plan role: in prod it must not read or decrypt models or data.
    granted = _actions(role_policy(graph_of("prod"), "plan"))
    assert not {"s3:GetObject", "kms:Decrypt"} & granted, sorted(granted)


def test_staging_plan_role_still_reads_release_evidence(graph_of) -> None:
    # The contrast that shows the prod test can fail: outside prod, plan verifies models.
    granted = _actions(role_policy(graph_of("staging"), "plan"))
    assert {"s3:GetObject", "kms:Decrypt"} <= granted, sorted(granted)


@pytest.mark.parametrize("purpose", ["plan", "deploy"])
def test_plan_and_deploy_may_look_up_availability_zones(stack_graph: Graph, purpose: str) -> None:
    document = role_policy(stack_graph, purpose)
    assert allows(document, "ec2:DescribeAvailabilityZones", "*"), "get_availability_zones"


def _network(graph: Graph) -> tuple[list[str], str, str]:
    """The private subnets and the two workload security groups, as rendered."""
    subnets = sorted(s.id for s in graph.of_type("aws:ec2/subnet:Subnet") if "private" in s.name)
    env = graph.stack
    training = graph.named(f"mlops-{env}-training-sg", "aws:ec2/securityGroup:SecurityGroup")
    endpoint = graph.named(f"mlops-{env}-endpoint-sg", "aws:ec2/securityGroup:SecurityGroup")
    return subnets, training.id, endpoint.id


def _launchers(graph: Graph) -> list[str]:
    return ["build", "train"] if graph.stack != "prod" else ["build"]


def test_every_create_training_job_grant_forces_isolation_encryption_and_placement(
    stack_graph: Graph,
) -> None:
    # The attack: launch a job outside Pulumi with network access, without the CMK, or in
    # another VPC. Every grant of CreateTrainingJob in every role carries the conditions.
    data_key = _key_arn(stack_graph, "data")
    grants = {
        policy.name: _granting(policy_of(policy), "sagemaker:CreateTrainingJob")
        for policy in stack_graph.of_type("aws:iam/rolePolicy:RolePolicy")
    }
    env = stack_graph.stack
    holders = sorted(name for name, found in grants.items() if found)
    assert holders == sorted(f"mlops-{env}-{p}" for p in _launchers(stack_graph)), holders
    for name in holders:
        (statement,) = grants[name]
        condition = statement["Condition"]
        assert condition["Bool"] == {
            "sagemaker:NetworkIsolation": "true",
            "sagemaker:InterContainerTrafficEncryption": "true",
        }, f"{name}: {condition}"
        assert condition["ArnEquals"] == {
            "sagemaker:VolumeKmsKey": data_key,
            "sagemaker:OutputKmsKey": data_key,
        }, f"{name}: {condition}"
        if env == "dev":
            assert "ForAllValues:StringEquals" not in condition, "dev has no VPC"
            continue
        subnets, training_sg, _ = _network(stack_graph)
        placed = condition["ForAllValues:StringEquals"]
        assert sorted(as_list(placed["sagemaker:VpcSubnets"])) == subnets, placed
        assert placed["sagemaker:VpcSecurityGroupIds"] == training_sg, placed
        assert condition["Null"] == {
            "sagemaker:VpcSubnets": "false",
            "sagemaker:VpcSecurityGroupIds": "false",
        }, "a request without any VPC must not pass ForAllValues"


def test_deploy_creates_only_isolated_models_and_encrypted_endpoint_configs(
    stack_graph: Graph,
) -> None:
    document = role_policy(stack_graph, "deploy")
    (model,) = _granting(document, "sagemaker:CreateModel")
    (config,) = _granting(document, "sagemaker:CreateEndpointConfig")
    assert model["Action"] == ["sagemaker:CreateModel"], "conditions apply to this call alone"
    assert model["Condition"]["Bool"] == {"sagemaker:NetworkIsolation": "true"}, model
    assert config["Condition"] == {
        "ArnEquals": {"sagemaker:VolumeKmsKey": _key_arn(stack_graph, "data")}
    }, config
    if stack_graph.stack == "dev":
        return
    subnets, _, endpoint_sg = _network(stack_graph)
    placed = model["Condition"]["ForAllValues:StringEquals"]
    assert sorted(as_list(placed["sagemaker:VpcSubnets"])) == subnets, placed
    assert placed["sagemaker:VpcSecurityGroupIds"] == endpoint_sg, placed


def test_pull_request_training_cannot_stage_datasets_or_touch_main(graph_of) -> None:
    graph = graph_of("staging")
    document = role_policy(graph, "train")
    data = f"arn:aws:s3:::{bucket_name(graph, 'data')}/datasets/churn-classifier/abc/train/x.csv"
    artifacts = f"arn:aws:s3:::{bucket_name(graph, 'artifacts')}"
    assert allows(document, "s3:GetObject", data), "reads datasets"
    assert not allows(document, "s3:PutObject", data), "datasets are read-only to PRs"
    assert not allows(document, "s3:GetObject", f"{artifacts}/training-output/main/m/j/o"), (
        "a PR job cannot read main's candidates"
    )


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_logs_key_encrypts_the_flow_logs_and_trail(graph_of, stack: str) -> None:
    graph = graph_of(stack)
    logs_key = _key_arn(graph, "logs")
    (flow_log,) = graph.of_type("aws:ec2/flowLog:FlowLog")
    group = next(
        g
        for g in graph.of_type("aws:cloudwatch/logGroup:LogGroup")
        if g.outputs["arn"] == flow_log.inputs["logDestination"]
    )
    assert group.inputs["kmsKeyId"] == logs_key, "flow logs on the logs key"
    for trail in graph.of_type("aws:cloudtrail/trail:Trail"):
        assert trail.inputs["kmsKeyId"] == logs_key, "trail on the logs key"
        bucket = graph.named(f"mlops-{stack}-trail", "mlops:storage:SecureBucket")
        (sse,) = graph.children(
            bucket,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        )
        default = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
        assert default["kmsMasterKeyId"] == logs_key, "the trail bucket defaults to the logs key"


def test_dev_without_trail_or_vpc_has_no_logs_key(graph_of) -> None:
    names = {k.name for k in graph_of("dev").of_type("aws:kms/key:Key")}
    assert names == {"mlops-dev-data-key", "mlops-dev-signing-key"}, names


def test_logs_key_is_usable_only_by_the_log_services_and_readable_by_the_auditor(
    graph_of,
) -> None:
    graph = graph_of("prod")
    policy = statements(policy_of(graph.named("mlops-prod-logs-key", "aws:kms/key:Key")))
    principals = {
        sid: s["Principal"]["AWS" if "AWS" in s["Principal"] else "Service"]
        for sid, s in policy.items()
    }
    assert principals == {
        "AccountRootAdministers": [ACCOUNT_ROOT],
        "CloudTrailEncryptsLogs": ["cloudtrail.amazonaws.com"],
        "CloudTrailDescribesKey": ["cloudtrail.amazonaws.com"],
        "CloudWatchLogsEncryptsFlowLogs": ["logs.eu-west-1.amazonaws.com"],
        "CloudWatchLogsEncryptsTrailLogs": ["logs.eu-west-1.amazonaws.com"],
        "CloudWatchLogsDescribesKey": ["logs.eu-west-1.amazonaws.com"],
        "AuditorsReadLogs": [_role(graph, "auditor").outputs["arn"]],
    }, principals
    trail = "arn:aws:cloudtrail:eu-west-1:123456789012:trail/mlops-prod-trail"
    assert policy["CloudTrailEncryptsLogs"]["Condition"] == {
        "StringEquals": {"aws:SourceArn": trail},
        "StringLike": {
            "kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:*:123456789012:trail/*"
        },
    }
    assert policy["CloudWatchLogsEncryptsFlowLogs"]["Condition"] == {
        "StringEquals": {
            "kms:EncryptionContext:aws:logs:arn": (
                "arn:aws:logs:eu-west-1:123456789012:log-group:/mlops-prod/vpc-flow-logs"
            )
        }
    }
    assert policy["CloudWatchLogsEncryptsTrailLogs"]["Condition"] == {
        "StringEquals": {
            "kms:EncryptionContext:aws:logs:arn": (
                "arn:aws:logs:eu-west-1:123456789012:log-group:/mlops-prod/cloudtrail"
            )
        }
    }
    assert policy["AuditorsReadLogs"]["Action"] == ["kms:Decrypt", "kms:DescribeKey"]
    assert policy["AuditorsReadLogs"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    }
    assert "kms:Decrypt" not in policy["AccountRootAdministers"]["Action"], "root cannot read"
