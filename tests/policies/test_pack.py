"""The pack as a whole: metadata, control mapping, coverage, and CrossGuard for real."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from policies.core import Param, Policy, ResourceCheck, Subject, evaluate_resource, peek
from policies.crossguard import crossguard_policies
from policies.pack import BY_NAME, POLICIES
from tests.policies import fixtures
from tests.policies.fixtures import data_key, parts, secure_bucket

# Every resource type the shipped stacks declare that carries a security setting, and the
# types the serving components declare; each must be judged by at least one policy.
SECURITY_RELEVANT = (
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:kms/key:Key",
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:ecr/repository:Repository",
    "aws:sns/topic:Topic",
    "aws:sns/topicPolicy:TopicPolicy",
    "aws:cloudwatch/logGroup:LogGroup",
    "aws:cloudwatch/metricAlarm:MetricAlarm",
    "aws:cloudtrail/trail:Trail",
    "aws:ec2/vpc:Vpc",
    "aws:ec2/subnet:Subnet",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/routeTable:RouteTable",
    "aws:sagemaker/model:Model",
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
    "aws:sagemaker/endpoint:Endpoint",
    "kubernetes:core/v1:Namespace",
    "kubernetes:apps/v1:Deployment",
)


def test_pack_policy_names_are_unique():
    # Given every policy of the pack
    # When indexed by name
    # Then no two share a name (CrossGuard keys config and results by it)
    assert len(BY_NAME) == len(POLICIES), "duplicate policy names"


@pytest.mark.parametrize("resource_type", SECURITY_RELEVANT)
def test_pack_security_relevant_type_is_covered(resource_type):
    # Given a resource type the platform declares
    # When the pack's policies are searched for it
    covering = [p.name for p in POLICIES if resource_type in p.resource_types]
    # Then at least one policy judges it
    assert covering, f"no policy judges {resource_type}"


def test_crossguard_policies_mirror_pack_levels_and_schemas():
    # Given the pack turned into CrossGuard policies
    guards = crossguard_policies(POLICIES)
    # When their metadata is compared with the pack's
    mirrored = {g.name: (g.enforcement_level.value, g.description) for g in guards}
    expected = {p.name: (p.enforcement, p.description) for p in POLICIES}
    # Then names, levels and descriptions are the same objects' data
    assert mirrored == expected, "CrossGuard policies must come from the pack's policy objects"
    schema = next(g for g in guards if g.name == "kms-key-deletion-window-minimum").config_schema
    assert schema.properties["minimumDays"]["default"] == 30, schema.properties


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "KmsRotation"}, "policy 'KmsRotation': names are kebab-case"),
        ({"description": "Ensures things."}, "policy x-y: description must start 'Checks whether'"),
        ({"enforcement": "disabled"}, "enforcement must be one of mandatory, advisory (found 'dis"),
        ({"controls": ("FSBP S3.5",)}, "policy x-y: map at least one NIST 800-53 control"),
    ],
    ids=["name-not-kebab", "description", "enforcement", "no-nist-control"],
)
def test_policy_constructor_refuses_malformed_metadata(change, message):
    # Given the metadata of a well-formed policy with one field broken
    metadata = {"name": "x-y", "description": "Checks whether x.", "enforcement": "mandatory",
                "controls": ("NIST AC-3",), **change}  # fmt: skip
    # When it is constructed (as each domain module does when the pack is imported)
    # Then it is refused, saying which rule it breaks
    with pytest.raises(ValueError, match=re.escape(message)):
        Policy(**metadata, validators={"t": print})


def test_resolve_config_out_of_bounds_value_names_policy_and_key():
    # Given a config value outside the schema's bounds
    policy = BY_NAME["kms-key-deletion-window-minimum"]
    # When the config is resolved
    # Then a one-line error names the policy and the key
    with pytest.raises(
        ValueError, match=r"kms-key-deletion-window-minimum: minimumDays: 3 is less"
    ):
        policy.resolve_config({"minimumDays": 3})


def test_param_schema_carries_type_bounds_and_default():
    # Given a bounded integer tunable
    param = Param("days", "integer", 7, "Days.", minimum=1, maximum=30)
    # When its schema is rendered
    # Then CrossGuard gets the type, the bounds and the default
    assert param.schema() == {
        "type": "integer",
        "default": 7,
        "description": "Days.",
        "minimum": 1,
        "maximum": 30,
    }, param.schema()


def test_peek_reads_keys_containing_dots_given_as_parts():
    # Given Kubernetes labels, whose keys contain dots
    props = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    # When read with a path given as parts
    value = peek(props, ("metadata", "labels", "pod-security.kubernetes.io/enforce"))
    # Then the label is found
    assert value == "restricted", value


def test_evaluation_records_values_read_as_evidence():
    # Given the data key and the rotation policy
    subject = Subject("aws:kms/key:Key", "k", "urn:k", data_key().props)
    # When it is evaluated
    evaluation = evaluate_resource(BY_NAME["kms-symmetric-key-rotation-enabled"], subject)
    # Then the exact inputs it judged are its evidence
    assert evaluation.evidence["enableKeyRotation"] is True, evaluation.evidence
    assert evaluation.evidence["rotationPeriodInDays"] == 365.0, evaluation.evidence


def test_resource_check_violation_message_names_resource_rule_value_and_fix():
    # Given a check on a bucket
    check = ResourceCheck(Subject("aws:s3/bucket:Bucket", "artifacts", "urn:a", {}), {})
    # When a violation is recorded
    check.violation("versioning must be Enabled", "Suspended", "set status Enabled")
    # Then it reads like STYLE.md's example
    assert check.violations == [
        "S3 bucket `artifacts`: versioning must be Enabled (found Suspended); set status Enabled"
    ], check.violations


def _start_pack() -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PULUMI_STACK": "prod"}
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "policies"],
        cwd=fixtures.__file__.rsplit("/tests/", 1)[0],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    port = proc.stdout.readline().decode().strip()
    return proc, port


@pytest.mark.slow
def test_policy_pack_runs_under_the_pulumi_analyzer_protocol():
    # Given the pack started the way `pulumi preview --policy-pack policies` starts it
    import grpc
    from google.protobuf import empty_pb2, json_format, struct_pb2
    from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

    proc, port = _start_pack()
    try:
        assert port.isdigit(), f"the pack must print its port, got {port!r}: {proc.stderr.read()}"
        stub = analyzer_pb2_grpc.AnalyzerStub(grpc.insecure_channel(f"127.0.0.1:{port}"))

        def struct(data):
            message = struct_pb2.Struct()
            json_format.ParseDict(data, message)
            return message

        # When the engine asks for its policies, then analyzes a key and a stack
        info = stub.GetAnalyzerInfo(empty_pb2.Empty())
        key = stub.Analyze(
            analyzer_pb2.AnalyzeRequest(
                type="aws:kms/key:Key",
                name="k",
                urn="urn:k",
                properties=struct({"keyUsage": "ENCRYPT_DECRYPT", "enableKeyRotation": False}),
            )
        )
        bucket_parts = parts(secure_bucket(), versioning=None)
        stack = stub.AnalyzeStack(
            analyzer_pb2.AnalyzeStackRequest(
                resources=[
                    analyzer_pb2.AnalyzerResource(
                        type=r.type,
                        name=r.name,
                        urn=r.urn,
                        properties=struct({**r.props, "id": r.id or r.name}),
                    )
                    for r in bucket_parts
                ]
            )
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # Then every policy is served with its level, and both kinds report violations
    served = {p.name: p.enforcementLevel for p in info.policies}
    assert set(served) == set(BY_NAME), "the analyzer must serve exactly the pack's policies"
    key_messages = [
        d.message for d in key.diagnostics if d.policyName == "kms-symmetric-key-rotation-enabled"
    ]
    assert any("enable_key_rotation=True" in m for m in key_messages), key_messages
    stack_messages = [
        d.message for d in stack.diagnostics if d.policyName == "s3-bucket-versioning-enabled"
    ]
    assert any("found no BucketVersioning" in m for m in stack_messages), stack_messages


def test_policy_reference_page_matches_the_pack(repo_root):
    # Given the shipped policy reference page and the pack
    from policies.catalog import reference_page

    page = (repo_root / "docs" / "policy-reference.md").read_text(encoding="utf-8")
    # Then the page is what the pack generates (regenerate: `python -m policies.catalog --write`)
    assert page == reference_page(), (
        "docs/policy-reference.md is stale: run `python -m policies.catalog --write`"
    )


def test_crossguard_admits_the_promoting_role_the_staging_graph_grants(repo_root, graph_of):
    # Given staging's stack file as `pulumi up` hands it to the pack (JSON config values)
    import json

    import yaml

    from common.iam_document import parse_document
    from policies.accounts import OUTSIDER_ACCOUNT
    from policies.crossguard import with_stack_peers

    document = yaml.safe_load((repo_root / "Pulumi.staging.yaml").read_text(encoding="utf-8"))
    env = {k: json.dumps(v) for k, v in document["config"].items()}
    # when the pack config names no peer,
    config = with_stack_peers({"peerPrincipalArns": [], "accountIds": []}, env)
    # then the peers are exactly the principal the rendered bucket policy grants prod's
    # promotion (nothing else of prod's account), and an explicit pack config wins.
    policy = graph_of("staging").named("mlops-staging-artifacts-policy")
    (granted,) = [
        s.principals["AWS"]
        for s in parse_document(policy.inputs["policy"])
        if s.sid == "PromotersReadReleasedModels"
    ]
    assert (
        config["peerPrincipalArns"]
        == list(granted)
        == ["arn:aws:iam::555566667777:role/mlops-prod-gh-promote"]
    )
    explicit = [f"arn:aws:iam::{OUTSIDER_ACCOUNT}:role/x"]
    assert with_stack_peers({"peerPrincipalArns": explicit}, env)["peerPrincipalArns"] == explicit
