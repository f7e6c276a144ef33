"""The embedded emulator: `mlops emulator`, the stack bootstrap, and every moto patch.

For each patch in ml/emulator/patches.py there is a test named `test_upstream_*` that
runs moto without that patch and asserts the gap is still there. When moto fixes a gap,
its test fails: drop the patch and the test. `test_every_patch_has_an_upstream_test`
keeps new patches from skipping this.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import load_der_public_key
from moto import settings as moto_settings
from moto.iam.access_control import PermissionResult

from common.errors import MlopsError
from infra.graph import Graph, Resource
from ml.artifacts import sse_kms_arguments
from ml.emulator import (
    EmulatedStack,
    Emulator,
    bootstrap_stack,
    credentials_for,
    patches,
    training,
)
from ml.emulator import iam as emulator_iam
from ml.emulator.bootstrap import in_account
from ml.emulator.drill import Drill, without_grant
from tests.ml.provenance_support import REGION, Aws, aws_fixture, create_signing_key  # noqa: F401

UPSTREAM_TESTS: dict[str, str] = {
    "kms-digest-message-type": "test_upstream_kms_sign_digest_is_hashed_again",
    "kms-verify-invalid-raises": "test_upstream_kms_verify_invalid_returns_false",
    "iam-access-denied-json": "test_upstream_iam_denial_on_kms_is_xml_403",
    "sagemaker-update-keeps-metadata": "test_upstream_update_model_package_wipes_metadata",
    "sagemaker-tags-versioned-package": "test_upstream_list_tags_on_versioned_package_fails",
    "s3-bucket-policy-conditions": "test_upstream_bucket_policy_conditions_deny_everything",
    "iam-resources-and-conditions": "test_upstream_iam_enforcement_ignores_the_resource",
    "sagemaker-update-endpoint": "test_upstream_update_endpoint_is_not_implemented",
    "cross-account-arns": "test_upstream_kms_key_of_another_account_is_not_found",
    "sagemaker-group-policy": "test_upstream_model_package_group_policy_is_not_implemented",
}


ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def bootstrap(aws: Aws, graph: Graph) -> EmulatedStack:
    return bootstrap_stack(graph, kms=aws.kms, s3=aws.s3, sagemaker=aws.sagemaker, iam=aws.iam)


@pytest.fixture
def stack(aws: Aws, graph_of: Callable[[str], Graph]) -> EmulatedStack:
    return bootstrap(aws, graph_of("dev"))


def with_role(graph: Graph, suffix: str, like: str) -> Graph:
    """`graph` with a role `mlops-<stack>-<suffix>` (a copy of role `like`) if it lacks one."""
    name = f"mlops-{graph.stack}-{suffix}"
    if any(r.name == name for r in graph.of_type(ROLE)):
        return graph
    model = graph.named(f"mlops-{graph.stack}-{like}", ROLE)
    added = dataclasses.replace(
        model, urn=model.urn.replace(model.name, name), name=name, id=f"{name}-0000001"
    )
    return dataclasses.replace(graph, resources=(*graph.resources, added))


def without_role(graph: Graph, suffix: str) -> Graph:
    """`graph` without role `mlops-<stack>-<suffix>` and the inline policies on it."""
    role = graph.named(f"mlops-{graph.stack}-{suffix}", ROLE)
    kept = tuple(r for r in graph.resources if role.id not in (r.id, r.inputs.get("role")))
    return dataclasses.replace(graph, resources=kept)


def emulator_values(aws: Aws, graph: Graph) -> dict[str, str]:
    """Graph key ARN and id -> the emulator's, read from the emulator by each key's alias."""
    values = {}
    for alias in graph.of_type("aws:kms/alias:Alias"):
        target = alias.inputs["targetKeyId"]
        keys = graph.of_type("aws:kms/key:Key")
        key: Resource = next(k for k in keys if target in (k.id, k.outputs["arn"]))
        held = aws.kms.describe_key(KeyId=alias.inputs["name"])["KeyMetadata"]
        values[key.outputs["arn"]] = held["Arn"]
        values[str(key.id)] = held["KeyId"]
    return values


def as_held(document: str, values: dict[str, str]) -> dict:
    for graph_value in sorted(values, key=len, reverse=True):
        document = document.replace(graph_value, values[graph_value])
    return json.loads(document)


def test_every_patch_has_an_upstream_test() -> None:
    # given the patches the emulator carries, then each has a test showing moto's gap
    assert set(UPSTREAM_TESTS) == set(patches.NAMES), "a patch lacks its upstream-gap test"
    missing = [name for name in UPSTREAM_TESTS.values() if name not in globals()]
    assert not missing, f"upstream tests not defined: {missing}"


# --- `mlops emulator` ----------------------------------------------------------------


def test_emulator_command_prints_one_line_then_serves_requests(tmp_path: Path) -> None:
    # given `mlops emulator --port 0` started as its own process
    process = subprocess.Popen(
        [sys.executable, "-c", "from ml.cli import main; main()", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # when it reports ready
        line = process.stdout.readline() if process.stdout else ""
        # then the line is exactly the endpoint, and the endpoint answers AWS API calls
        assert line.startswith("AWS_ENDPOINT_URL=http://127.0.0.1:"), repr(line)
        endpoint = line.strip().split("=", 1)[1]
        kms = boto3.client(
            "kms",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=emulator_iam.ADMINISTRATOR_KEY,
            aws_secret_access_key="x",
        )
        key = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]
        assert key["KeySpec"] == "ECC_NIST_P256", key
    finally:
        process.terminate()
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, f"exit {process.returncode}: {err}"
    assert out == "", f"printed more than one line: {out!r}"


def test_emulator_command_on_busy_port_exits_2_with_one_line() -> None:
    # given a port already taken on 127.0.0.1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # when the emulator is asked to use it
        command = [sys.executable, "-c", "from ml.cli import main; main()", "emulator"]
        done = subprocess.run(
            [*command, "--port", str(port)], capture_output=True, text=True, timeout=60, check=False
        )
    # then it says so on one line and exits 2
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"error: port {port} on 127.0.0.1 is in use; choose another\n", (
        done.stderr
    )


EMULATOR = [sys.executable, "-c", "from ml.cli import main; main()", "emulator"]


def exported(lines: list[str]) -> dict[str, str]:
    """`export NAME=value` lines as the shell would read them (values are plain words)."""
    pairs = [line.removeprefix("export ").split("=", 1) for line in lines]
    return {name: value for name, value in pairs}


def test_emulator_with_stack_prints_exports_a_release_command_can_use(
    repo_root: Path, tmp_path: Path
) -> None:
    # given `mlops emulator --stack dev` started as its own process
    process = subprocess.Popen(
        [*EMULATOR, "--stack", "dev", "--port", "0", "--root", str(repo_root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # when it has printed the endpoint, a comment and the exports
        first = process.stdout.readline() if process.stdout else ""
        assert first.startswith("AWS_ENDPOINT_URL=http://127.0.0.1:"), repr(first)
        lines = []
        while not lines or not lines[-1].startswith("export MLOPS_SIGNING_KEY_ID="):
            line = process.stdout.readline() if process.stdout else ""
            assert line, f"output ended early: {lines}"
            if line.startswith("export "):
                lines.append(line.strip())
        env = exported(lines)
        # then they point at it as the administrator, with the dev stack's outputs
        assert env["AWS_ENDPOINT_URL"] == first.strip().split("=", 1)[1]
        assert env["AWS_ACCESS_KEY_ID"] == emulator_iam.ADMINISTRATOR_KEY
        assert env["MLOPS_SIGNING_KEY_ID"] == "alias/mlops-dev-signing"
        assert env["MLOPS_ARTIFACT_BUCKET"].startswith("mlops-dev-artifacts-"), env
        # and a command run with only them reads the stack's signing key from the emulator
        pem = tmp_path / "dev.pem"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLOPS_"))}
        done = subprocess.run(
            [*EMULATOR[:-1], "keys", "export-public", "--out", str(pem)],
            env={**clean, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "(ECC_NIST_P256, ECDSA_SHA_256" in done.stdout, done.stdout
        assert pem.read_text().startswith("-----BEGIN PUBLIC KEY-----")
        # and the stack's registry exists there (empty: no --with-demo-models)
        done = subprocess.run(
            [*EMULATOR[:-1], "release", "verify", "--stack", "dev", "--registry-only"],
            env={**clean, **env},
            cwd=repo_root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert "model package group mlops-dev-churn-classifier has no version" in done.stderr
    finally:
        process.terminate()
        _, err = process.communicate(timeout=15)
    assert process.returncode == 0, f"exit {process.returncode}: {err}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stack", "qa"], "error: unknown stack 'qa': choose one of dev, staging, prod\n"),
        (
            ["--with-demo-models"],
            "error: --with-demo-models needs --stack: the models go into a stack's registry\n",
        ),
    ],
)
def test_emulator_bad_stack_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    done = subprocess.run([*EMULATOR, *args], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (2, message)
    assert "AWS_ENDPOINT_URL" not in done.stdout


def test_emulator_started_again_in_same_process_holds_no_earlier_state() -> None:
    # given a key created in an emulator that then stopped (moto's state is per process)
    def kms_of(emulator: Emulator):
        return boto3.client(
            "kms",
            endpoint_url=emulator.endpoint_url,
            region_name=REGION,
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )

    with Emulator(region=REGION) as first:
        kms_of(first).create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
    # when a second emulator starts in the same process
    with Emulator(region=REGION) as second:
        keys = kms_of(second).list_keys()["Keys"]
    # then it starts empty, as a fresh `mlops emulator` would
    assert keys == [], f"the second emulator still holds the first one's keys: {keys}"


# --- bootstrap_stack ------------------------------------------------------------------


def test_bootstrap_creates_signing_key_with_alias(aws: Aws, stack: EmulatedStack) -> None:
    # given the dev stack bootstrapped from its graph, when its signing alias is described
    key = aws.kms.describe_key(KeyId="alias/mlops-dev-signing")["KeyMetadata"]
    # then it is the graph's asymmetric signing key
    assert (key["KeySpec"], key["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY"), key
    assert key["Arn"] == stack.signing_key_arn, "alias does not point at the signing key"


def test_bootstrap_puts_graph_bucket_policy_with_emulator_key(
    aws: Aws, stack: EmulatedStack
) -> None:
    # given the bootstrapped dev artifact bucket, when its policy is read back
    bucket, key = stack.artifact_bucket, stack.data_key_arn
    held = json.loads(aws.s3.get_bucket_policy(Bucket=bucket)["Policy"])
    # then it is the dev graph's policy (as `mlops infra render --stack dev` writes it),
    # with the emulator's data key in place of the offline mock's
    objects = f"arn:aws:s3:::{bucket}/*"
    expected = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
             "Action": ["s3:*"], "Resource": [f"arn:aws:s3:::{bucket}", objects],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": "DenyUploadsWithoutSseKms", "Effect": "Deny", "Principal": "*",
             "Action": ["s3:PutObject"], "Resource": [objects],
             "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}},
            {"Sid": "DenyUploadsWithOtherKmsKey", "Effect": "Deny", "Principal": "*",
             "Action": ["s3:PutObject"], "Resource": [objects],
             "Condition": {"ArnNotEqualsIfExists": {
                 "s3:x-amz-server-side-encryption-aws-kms-key-id": key}}},
        ],
    }  # fmt: skip
    assert bucket == "mlops-dev-artifacts-b8dede0", "the graph's bucket name, kept"
    assert key.startswith("arn:aws:kms:eu-west-1:123456789012:key/"), key
    assert held == expected, held


def test_bootstrap_creates_model_package_groups(aws: Aws, stack: EmulatedStack) -> None:
    # given the dev stack bootstrapped, then its model registry group exists
    assert stack.model_package_groups == ("mlops-dev-churn-classifier",), stack
    described = aws.sagemaker.describe_model_package_group(
        ModelPackageGroupName="mlops-dev-churn-classifier"
    )
    assert described["ModelPackageGroupName"] == "mlops-dev-churn-classifier", described


def test_bootstrap_outputs_use_the_stack_export_names(stack: EmulatedStack) -> None:
    # given a bootstrapped stack, when its outputs are read like `pulumi stack output`
    outputs = stack.outputs()
    # then the names are those infra/program.py exports
    expected = {
        "artifactBucket",
        "dataBucket",
        "captureBucket",
        "logBucket",
        "dataKeyArn",
        "signingKeyArn",
        "signingKeyAlias",
        "region",
        "environment",
    }
    assert set(outputs) == expected, sorted(outputs)
    assert outputs["artifactBucket"] == stack.artifact_bucket, outputs


def test_bootstrap_twice_reuses_what_exists(
    aws: Aws, stack: EmulatedStack, graph_of: Callable[[str], Graph]
) -> None:
    # given a bootstrapped stack, when bootstrapped again against the same emulator
    again = bootstrap(aws, graph_of("dev"))
    # then the same keys and buckets are used, nothing duplicated
    assert again == stack, "second bootstrap created different resources"


def test_bootstrap_creates_every_role_with_the_graph_trust_policy(
    aws: Aws, stack: EmulatedStack, graph_of: Callable[[str], Graph]
) -> None:
    # given the dev graph's roles, read from the rendered graph
    roles = graph_of("dev").of_type(ROLE)
    assert len(roles) >= 9, f"the dev graph declares the duty roles: {[r.name for r in roles]}"
    for role in roles:
        # when each is read back from the emulator under its graph name
        held = aws.iam.get_role(RoleName=role.id)["Role"]
        # then it trusts exactly whom the graph's trust policy names
        assert held["AssumeRolePolicyDocument"] == json.loads(role.inputs["assumeRolePolicy"]), (
            f"{role.name}: trust policy differs from the graph"
        )


def test_bootstrap_puts_every_inline_policy_with_emulator_key_arns(
    aws: Aws, stack: EmulatedStack, graph_of: Callable[[str], Graph]
) -> None:
    # given the dev graph's inline role policies and the emulator's keys (by alias)
    graph = graph_of("dev")
    values = emulator_values(aws, graph)
    policies = graph.of_type(ROLE_POLICY)
    assert policies, "the dev graph declares inline policies"
    for policy in policies:
        # when each is read back from its role in the emulator
        held = aws.iam.get_role_policy(RoleName=policy.inputs["role"], PolicyName=policy.id)
        # then its statements are the graph's, with the emulator's key ARNs in them
        expected = as_held(policy.inputs["policy"], values)["Statement"]
        assert held["PolicyDocument"]["Statement"] == expected, f"{policy.name} differs"


def test_bootstrap_rewrites_mock_account_and_key_arns_in_role_policies(
    aws: Aws, graph_of: Callable[[str], Graph], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an emulator whose account is not the offline mocks' (123456789012)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111122223333")
    graph = graph_of("dev")
    release = graph.named("mlops-dev-gh-release", ROLE)
    # when the stack is bootstrapped there
    stack = bootstrap(aws, graph)
    # then the release role trusts the OIDC provider of the emulator's account ...
    trust = aws.iam.get_role(RoleName=release.id)["Role"]["AssumeRolePolicyDocument"]
    federated = trust["Statement"][0]["Principal"]["Federated"]
    expected = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"
    assert federated in (expected, [expected]), federated
    # ... and may sign with the emulator's signing key, not the mock's
    policy = aws.iam.get_role_policy(
        RoleName=release.id, PolicyName=graph.attached_to(ROLE_POLICY, "role", release.id)[0].id
    )["PolicyDocument"]
    signs = [s for s in policy["Statement"] if "kms:Sign" in s["Action"]]
    assert [s["Resource"] for s in signs] == [[stack.signing_key_arn]], signs
    assert stack.signing_key_arn.startswith("arn:aws:kms:eu-west-1:111122223333:key/"), stack
    assert ":123456789012:" not in json.dumps(policy) + json.dumps(trust), "a mock ARN is left"


def test_credentials_for_a_duty_are_a_session_of_its_role(
    aws: Aws, stack: EmulatedStack, graph_of: Callable[[str], Graph]
) -> None:
    # given the bootstrapped dev stack and its release role's name in the graph
    role_name = graph_of("dev").named("mlops-dev-gh-release", ROLE).id
    # when the release duty's credentials are asked for and used
    credentials = credentials_for(stack, "release", boto3.client("sts", region_name=REGION))
    sts = credentials.session(REGION).client("sts")
    # then AWS sees the role's assumed-role session named after the duty
    caller = sts.get_caller_identity()["Arn"]
    assert caller == f"arn:aws:sts::123456789012:assumed-role/{role_name}/demo-release", caller
    assert credentials.environment()["AWS_SESSION_TOKEN"] == credentials.session_token


def test_credentials_for_the_approver_are_not_the_signers(
    aws: Aws, graph_of: Callable[[str], Graph]
) -> None:
    # given a dev graph with an approver role (added here if the program lacks it)
    stack = bootstrap(aws, with_role(graph_of("dev"), "gh-approve", like="gh-deploy"))
    sts = boto3.client("sts", region_name=REGION)
    # when the approve and release duties get their credentials
    approver = credentials_for(stack, "approve", sts)
    signer = credentials_for(stack, "release", sts)
    # then they are sessions of two different roles, the approver's named gh-approve
    assert approver.role_arn != signer.role_arn, (approver.role_arn, signer.role_arn)
    assert "role/mlops-dev-gh-approve-" in approver.role_arn, approver.role_arn


def test_credentials_for_a_role_the_graph_lacks_fail_with_one_line(
    aws: Aws, graph_of: Callable[[str], Graph]
) -> None:
    # given a graph without the deploy role (an attacker folding deploy into another role)
    stack = bootstrap(aws, without_role(graph_of("dev"), "gh-deploy"))
    # when the deploy duty's credentials are asked for
    with pytest.raises(MlopsError) as raised:
        credentials_for(stack, "deploy", boto3.client("sts", region_name=REGION))
    # then one line names the missing role, rather than moto issuing a session anyway
    message = str(raised.value)
    assert "no IAM role mlops-dev-gh-deploy" in message and "\n" not in message, message


# --- patches: behaviour with the patch --------------------------------------------------


def test_kms_sign_digest_signs_the_digest_as_given(aws: Aws) -> None:
    # given a message's SHA-256, signed through KMS with MessageType DIGEST
    key = create_signing_key(aws.kms)
    message = b"x" * 5000
    digest = hashlib.sha256(message).digest()
    signature = aws.kms.sign(
        KeyId=key, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
    )["Signature"]
    # then the public key verifies it over the digest as given (AWS: no second hash) ...
    public = load_der_public_key(aws.kms.get_public_key(KeyId=key)["PublicKey"])
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    # ... and it is the signature of the message itself, as KMS verifies a RAW message
    verified = aws.kms.verify(
        KeyId=key, Message=message, MessageType="RAW", Signature=signature,
        SigningAlgorithm="ECDSA_SHA_256",
    )  # fmt: skip
    assert verified["SignatureValid"] is True, verified


def test_kms_verify_digest_accepts_the_signature_of_the_message(aws: Aws) -> None:
    # given a message signed through KMS as RAW bytes (moto's own, correct, path)
    key = create_signing_key(aws.kms)
    message = b"x" * 5000
    signature = aws.kms.sign(
        KeyId=key, Message=message, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256"
    )["Signature"]
    # when KMS verifies it against the message's SHA-256 with MessageType DIGEST
    verified = aws.kms.verify(
        KeyId=key, Message=hashlib.sha256(message).digest(), MessageType="DIGEST",
        Signature=signature, SigningAlgorithm="ECDSA_SHA_256",
    )  # fmt: skip
    # then it is valid: AWS verifies the digest as given, without hashing it again
    assert verified["SignatureValid"] is True, verified


def test_list_tags_on_versioned_package(aws: Aws) -> None:
    # given a versioned model package with a tag
    aws.sagemaker.create_model_package_group(ModelPackageGroupName="g")
    arn = aws.sagemaker.create_model_package(
        ModelPackageGroupName="g",
        Tags=[{"Key": "team", "Value": "ml"}],
        InferenceSpecification=_inference(),
    )["ModelPackageArn"]
    # when its tags are listed, then they come back
    tags = aws.sagemaker.list_tags(ResourceArn=arn)["Tags"]
    assert tags == [{"Key": "team", "Value": "ml"}], tags


def test_policy_evaluation_denies_plain_http_from_a_remote_host(
    graph_of: Callable[[str], Graph],
) -> None:
    # given the artifact bucket's graph policy and a GET over plain HTTP from elsewhere
    resource = graph_of("dev").named("mlops-dev-artifacts-policy")
    policy = json.loads(resource.inputs["policy"])
    bucket = resource.inputs["bucket"]
    context = patches.S3RequestContext("GET", f"http://10.0.0.5/{bucket}/k", {})
    # when evaluated, then the TLS-only statement denies it
    result, sid = patches.evaluate_bucket_policy(
        policy, "s3:GetObject", f"arn:aws:s3:::{bucket}/k", context.condition_values()
    )
    assert (result, sid) == (PermissionResult.DENIED, "DenyInsecureTransport"), (result, sid)


def test_policy_evaluation_refuses_operators_it_cannot_evaluate() -> None:
    # given a Deny with a date operator the emulator does not implement
    condition = {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}
    statement = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"}
    policy = {"Statement": [{**statement, "Condition": condition}]}
    # when evaluated, then it fails loudly rather than allowing the request
    with pytest.raises(patches.PolicyEvaluationError, match="DateLessThan"):
        patches.evaluate_bucket_policy(policy, "s3:PutObject", "arn:aws:s3:::b/k", {})


# --- patches: the gaps are still in moto --------------------------------------------------


def test_upstream_kms_sign_digest_is_hashed_again(aws: Aws) -> None:
    # given moto without the digest fix, and a DIGEST signature made through it
    key = create_signing_key(aws.kms)
    digest = hashlib.sha256(b"payload").digest()
    public = load_der_public_key(aws.kms.get_public_key(KeyId=key)["PublicKey"])
    assert isinstance(public, ec.EllipticCurvePublicKey)
    with patches.unpatched("kms-digest-message-type"):
        signature = aws.kms.sign(
            KeyId=key, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
        )["Signature"]
    # when checked against the public key as AWS defines DIGEST, then moto's is wrong
    with pytest.raises(InvalidSignature):
        public.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))


def test_upstream_kms_verify_invalid_returns_false(aws: Aws) -> None:
    # given moto without the fix, when verifying a signature over other bytes
    key = create_signing_key(aws.kms)
    signature = aws.kms.sign(
        KeyId=key, Message=b"a", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256"
    )["Signature"]
    with patches.unpatched("kms-verify-invalid-raises"):
        answer = aws.kms.verify(
            KeyId=key,
            Message=b"b",
            MessageType="RAW",
            Signature=signature,
            SigningAlgorithm="ECDSA_SHA_256",
        )
    # then moto answers SignatureValid=false where AWS raises KMSInvalidSignatureException
    assert answer["SignatureValid"] is False, answer


def test_upstream_iam_denial_on_kms_is_xml_403(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a principal without kms:CreateKey and IAM enforcement on
    aws.iam.create_user(UserName="nobody")
    keys = aws.iam.create_access_key(UserName="nobody")["AccessKey"]
    kms = boto3.client(
        "kms",
        region_name=REGION,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
    )
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    # when it calls KMS without the fix
    with patches.unpatched("iam-access-denied-json"), pytest.raises(ClientError) as raised:
        kms.create_key()
    # then boto3 cannot read moto's XML denial: the code is '403', not AccessDeniedException
    assert raised.value.response["Error"]["Code"] == "403", raised.value.response["Error"]


def test_upstream_update_model_package_wipes_metadata(aws: Aws) -> None:
    # given a package with customer metadata
    aws.sagemaker.create_model_package_group(ModelPackageGroupName="g")
    arn = aws.sagemaker.create_model_package(
        ModelPackageGroupName="g",
        CustomerMetadataProperties={"git_commit": "abc"},
        InferenceSpecification=_inference(),
    )["ModelPackageArn"]
    # when only its approval status changes, without the fix
    with patches.unpatched("sagemaker-update-keeps-metadata"):
        aws.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    # then moto has dropped the metadata that AWS keeps
    described = aws.sagemaker.describe_model_package(ModelPackageName=arn)
    assert "CustomerMetadataProperties" not in described, described.get(
        "CustomerMetadataProperties"
    )


def test_upstream_update_endpoint_is_not_implemented(aws: Aws) -> None:
    # given an endpoint on moto without the fix (ml.emulator.deployments)
    aws.sagemaker.create_model(
        ModelName="m", ExecutionRoleArn="arn:aws:iam::123456789012:role/r", PrimaryContainer={}
    )
    aws.sagemaker.create_endpoint_config(
        EndpointConfigName="c",
        ProductionVariants=[{"VariantName": "p", "ModelName": "m", "InstanceType": "ml.m5.large"}],
    )
    aws.sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="c")
    # when it is updated, then moto has no such operation (AWS deploys blue/green)
    missing = "The update_endpoint action has not been implemented"
    with (
        patches.unpatched("sagemaker-update-endpoint"),
        pytest.raises(NotImplementedError, match=missing),
    ):
        aws.sagemaker.update_endpoint(EndpointName="e", EndpointConfigName="c")


def test_upstream_list_tags_on_versioned_package_fails(aws: Aws) -> None:
    # given a versioned model package
    aws.sagemaker.create_model_package_group(ModelPackageGroupName="g")
    arn = aws.sagemaker.create_model_package(
        ModelPackageGroupName="g", InferenceSpecification=_inference()
    )["ModelPackageArn"]
    # when its tags are listed without the fix, then moto fails: it splits the ARN's
    # "<group>/<version>" name in two and gets three parts
    unpacked = r"too many values to unpack \(expected 2\)"
    with (
        patches.unpatched("sagemaker-tags-versioned-package"),
        pytest.raises(ValueError, match=unpacked),
    ):
        aws.sagemaker.list_tags(ResourceArn=arn)


def test_upstream_bucket_policy_conditions_deny_everything(aws: Aws, stack: EmulatedStack) -> None:
    # given the graph's bucket policy, when an upload that satisfies it is sent without the fix
    with patches.unpatched("s3-bucket-policy-conditions"), pytest.raises(ClientError) as raised:
        aws.s3.put_object(
            Bucket=stack.artifact_bucket,
            Key="k",
            Body=b"1",
            **sse_kms_arguments(stack.data_key_arn),
        )
    # then moto denies it anyway, with a bare 403
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403, raised.value


def test_upstream_kms_key_of_another_account_is_not_found(aws: Aws) -> None:
    # given a signing key of account 111111111111, asked for by its ARN from the default account
    other = in_account(boto3.client("kms", region_name=REGION), "111111111111")
    arn = other.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
    # when described without the fix, then moto looks in the caller's account and finds nothing
    with patches.unpatched("cross-account-arns"), pytest.raises(ClientError) as raised:
        aws.kms.describe_key(KeyId=arn)
    assert raised.value.response["Error"]["Code"] == "NotFoundException", raised.value
    # and with it, the key is found where its ARN says (AWS's behaviour)
    assert aws.kms.describe_key(KeyId=arn)["KeyMetadata"]["Arn"] == arn


def test_upstream_model_package_group_policy_is_not_implemented(aws: Aws) -> None:
    # given a model package group
    aws.sagemaker.create_model_package_group(ModelPackageGroupName="g")
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    # when a resource policy is put on it without the fix, then moto does not implement it
    missing = "The put_model_package_group_policy action has not been implemented"
    with (
        patches.unpatched("sagemaker-group-policy"),
        pytest.raises(NotImplementedError, match=missing),
    ):
        aws.sagemaker.put_model_package_group_policy(
            ModelPackageGroupName="g", ResourcePolicy=policy
        )
    # and with it, the policy is kept and read back
    aws.sagemaker.put_model_package_group_policy(ModelPackageGroupName="g", ResourcePolicy=policy)
    held = aws.sagemaker.get_model_package_group_policy(ModelPackageGroupName="g")
    assert held["ResourcePolicy"] == policy, held


def test_patches_are_reverted_after_the_block(aws: Aws) -> None:
    # given patches applied by the test fixture, when a block runs without one
    with patches.unpatched("kms-verify-invalid-raises"):
        inside = patches.active()
    # then it was out inside the block and is back afterwards
    assert "kms-verify-invalid-raises" not in inside, inside
    assert "kms-verify-invalid-raises" in patches.active(), patches.active()


def _inference() -> dict[str, object]:
    return {
        "Containers": [{"Image": "img", "ModelDataUrl": "s3://b/m.tar.gz"}],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    }


# --- training jobs (ml/emulator/training.py) -------------------------------------------


def _minimal_training_job(aws: Aws, name: str) -> None:
    location = {"LocationConstraint": REGION}
    aws.s3.create_bucket(Bucket="jobs-out", CreateBucketConfiguration=location)
    aws.sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File"},
        RoleArn="arn:aws:iam::123456789012:role/training",
        OutputDataConfig={"S3OutputPath": "s3://jobs-out/out/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
    )


def test_upstream_training_job_completes_at_once_without_running(aws: Aws) -> None:
    # given moto without the emulator's training jobs, when a job is created
    assert not training.installed(), "this test shows moto's own CreateTrainingJob"
    _minimal_training_job(aws, "upstream")
    job = aws.sagemaker.describe_training_job(TrainingJobName="upstream")
    # then it is Completed at once, with no times and no model: nothing ran
    assert job["TrainingJobStatus"] == "Completed", job["TrainingJobStatus"]
    assert "BillableTimeInSeconds" not in job and "TrainingTimeInSeconds" not in job, job
    listed = aws.s3.list_objects_v2(Bucket="jobs-out").get("Contents", [])
    assert listed == [], f"moto wrote {listed}; if it runs jobs now, drop ml/emulator/training.py"


def test_emulator_runs_training_jobs_and_gives_moto_its_handler_back_when_stopped() -> None:
    # given an emulator, then its training jobs run while it runs, and moto's own after
    with Emulator(region=REGION) as emulator:
        assert training.installed() and emulator.training is not None, "jobs run while it runs"
    assert not training.installed(), "a stopped emulator leaves moto as it was"
    assert emulator.training is None, "and holds no job runner"


def test_model_tarball_bytes_depend_only_on_file_names_and_contents(tmp_path: Path) -> None:
    # given the same two files written at different times, and a copy with one byte changed
    for name, when in (("a", 1_000_000), ("b", 2_000_000)):
        (tmp_path / name).mkdir()
        for file, text in (("model.txt", "tree\n"), ("model.json", "{}\n")):
            (tmp_path / name / file).write_text(text)
            os.utime(tmp_path / name / file, (when, when))
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "model.txt").write_text("tree\n")
    (tmp_path / "c" / "model.json").write_text("{ }\n")
    # when each is packed as model.tar.gz
    a, b, c = (training.deterministic_tarball(tmp_path / n) for n in "abc")
    # then equal files give equal bytes, a changed byte gives other bytes, and tar reads it back
    assert a == b, "mtimes must not reach model.tar.gz"
    assert a != c, "contents must"
    with tarfile.open(fileobj=io.BytesIO(a), mode="r:gz") as archive:
        members = {m.name: archive.extractfile(m).read() for m in archive.getmembers()}
    assert members == {"model.json": b"{}\n", "model.txt": b"tree\n"}, members


# --- IAM enforcement (ml.emulator.iam) ---------------------------------------------------


def signing_role(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, Any]:
    """As the administrator: two signing keys and a role allowed kms:Sign on the first
    only; returns (its key, the other key, a KMS client of the role's session)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", emulator_iam.ADMINISTRATOR_KEY)
    own = create_signing_key(aws.kms, "alias/own")
    other = create_signing_key(aws.kms, "alias/other")
    own_arn = own
    trust = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "sts:AssumeRole",
            }
        ]
    }
    role = aws.iam.create_role(RoleName="signer", AssumeRolePolicyDocument=json.dumps(trust))
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "SignWithOwnKey", "Effect": "Allow", "Action": "kms:Sign", "Resource": own_arn}
        ],
    }
    aws.iam.put_role_policy(RoleName="signer", PolicyName="sign", PolicyDocument=json.dumps(policy))
    issued = aws.sts.assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="drill")
    c = issued["Credentials"]
    kms = boto3.client(
        "kms",
        region_name=REGION,
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
    )
    return own, other, kms


def test_enforced_role_signs_with_its_key_and_is_recorded(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    own, _, kms = signing_role(aws, monkeypatch)
    # when the role signs with the key its policy names, under enforcement
    with emulator_iam.enforced() as ledger:
        kms.sign(KeyId=own, Message=b"m", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    # then the call is authorised and recorded with the statement that allowed it
    (call,) = ledger.calls
    assert (call.role, call.action) == ("signer", "kms:Sign"), call
    assert call.resource.endswith(own) and ("signer/sign", "SignWithOwnKey") in call.statements


def test_enforced_role_is_denied_another_key_with_identity_action_and_resource(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, other, kms = signing_role(aws, monkeypatch)
    # when the role signs with a key its policy does not name
    with emulator_iam.enforced() as ledger, pytest.raises(ClientError) as raised:
        kms.sign(KeyId=other, Message=b"m", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    # then KMS answers AccessDeniedException naming who, what and which key
    error = raised.value.response["Error"]
    assert error["Code"] == "AccessDeniedException", error
    assert "assumed-role/signer/drill" in error["Message"] and other in error["Message"], error
    assert (
        ledger.denials[0]
        .line()
        .startswith(
            "denied: arn:aws:sts::123456789012:assumed-role/signer/drill may not kms:Sign on "
            "arn:aws:kms:"
        )
    ), ledger.denials[0].line()


def test_enforced_administrator_is_never_checked(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", emulator_iam.ADMINISTRATOR_KEY)
    with emulator_iam.enforced() as ledger:
        aws.s3.create_bucket(
            Bucket="admin-bucket", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
    assert ledger.administrator_calls >= 1 and not ledger.calls and not ledger.denials


def test_sagemaker_call_with_a_role_needs_pass_role_to_sagemaker() -> None:
    # given a CreateTrainingJob request naming an execution role
    body = {
        "TrainingJobName": "mlops-dev-job",
        "RoleArn": "arn:aws:iam::1:role/mlops-dev-training",
        "EnableNetworkIsolation": True,
        "ResourceConfig": {"VolumeKmsKeyId": "arn:k"},
    }
    needs = emulator_iam._sagemaker(
        "sagemaker:CreateTrainingJob", body, emulator_iam._Scope("1", REGION)
    )
    # then it is authorised on the job, with its settings, and PassRole on the role
    job, passing = needs
    assert job.resource == f"arn:aws:sagemaker:{REGION}:1:training-job/mlops-dev-job", job
    assert job.context["sagemaker:networkisolation"] == ["true"], job.context
    assert job.context["sagemaker:volumekmskey"] == ["arn:k"], job.context
    assert (passing.action, passing.resource) == ("iam:PassRole", body["RoleArn"]), passing
    assert passing.context["iam:passedtoservice"] == ["sagemaker.amazonaws.com"], passing


def test_drill_removes_one_action_and_splits_a_shared_key_policy_statement() -> None:
    key_policy = {
        "Statement": [
            {
                "Sid": "Verify",
                "Effect": "Allow",
                "Principal": {"AWS": ["arn:r/release", "arn:r/deploy"]},
                "Action": ["kms:Verify", "kms:GetPublicKey"],
                "Resource": "*",
            }
        ]
    }
    updated, changed = without_grant(key_policy, "kms:Verify", "arn:r/release")
    assert changed == 1
    deploy, release = updated["Statement"]
    assert deploy["Principal"] == {"AWS": ["arn:r/deploy"]} and "kms:Verify" in deploy["Action"]
    assert release["Principal"] == {"AWS": ["arn:r/release"]}, release
    assert release["Action"] == ["kms:GetPublicKey"], release


def test_drill_refuses_a_malformed_role_action() -> None:
    with pytest.raises(MlopsError, match="ROLE:ACTION"):
        Drill.parse("gh-release:s3:*")
    assert Drill.parse("release:kms:Sign") == Drill("gh-release", "kms:Sign")


def test_upstream_iam_enforcement_ignores_the_resource(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a role allowed kms:Sign on its own key only
    own, _, kms = signing_role(aws, monkeypatch)
    # when it signs with that key under moto's own enforcement, without the fix
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    with patches.unpatched("iam-resources-and-conditions"), pytest.raises(ClientError) as raised:
        kms.sign(KeyId=own, Message=b"m", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    # then moto denies it: it matched the grant's key ARN against the resource '*'
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException", raised.value
