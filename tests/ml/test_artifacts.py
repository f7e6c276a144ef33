"""Uploads to the artifact bucket satisfy the bucket policy from the rendered graph.

The dev stack is bootstrapped into moto from its rendered graph, bucket policy
included. moto alone does not evaluate bucket-policy conditions on requests; the
emulator's `s3-bucket-policy-conditions` patch evaluates the graph's Deny statements
against each request's real headers (see ml/emulator/patches.py). So a passing upload
here means the request the upload code sent carries what the policy demands, and the
denied uploads show the policy is really being enforced.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from common.errors import MlopsError
from infra.graph import Graph
from ml.artifacts import S3Object, sse_kms_arguments, upload_file
from ml.emulator import EmulatedStack, bootstrap_stack
from ml.provenance.archive import store_artifact
from tests.ml.provenance_support import (  # noqa: F401 - fixtures
    Aws,
    aws_fixture,
    create_signing_key,
    sign_directory,
    write_artifact,
)


@pytest.fixture
def stack(aws: Aws, graph_of: Callable[[str], Graph]) -> EmulatedStack:
    return bootstrap_stack(graph_of("dev"), kms=aws.kms, s3=aws.s3, sagemaker=aws.sagemaker)


def denied(call: Callable[[], object]) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return str(raised.value.response["Error"]["Code"])


def test_store_artifact_uploads_with_sse_kms_under_the_stack_cmk(
    aws: Aws, stack: EmulatedStack, tmp_path: Path
) -> None:
    # given a signed artifact and the dev stack's artifact bucket with its graph policy
    artifact = write_artifact(tmp_path / "model")
    envelope = sign_directory(aws.kms, create_signing_key(aws.kms), artifact)
    # when stored
    stored = store_artifact(aws.s3, artifact=artifact, envelope=envelope,
                            bucket=stack.artifact_bucket, prefix="models/churn/abc",
                            kms_key_arn=stack.data_key_arn, workdir=tmp_path / "work")  # fmt: skip
    # then both objects were accepted and are encrypted with the stack's CMK
    for target in (stored.model_data, stored.signature):
        head = aws.s3.head_object(Bucket=target.bucket, Key=target.key)
        assert head["ServerSideEncryption"] == "aws:kms", f"{target.uri}: {head}"
        assert head["SSEKMSKeyId"] == stack.data_key_arn, f"{target.uri}: wrong key"


def test_store_artifact_puts_the_signature_inside_the_model_tarball(
    aws: Aws, stack: EmulatedStack, tmp_path: Path
) -> None:
    # given a signed artifact directory
    artifact = write_artifact(tmp_path / "model")
    envelope = sign_directory(aws.kms, create_signing_key(aws.kms), artifact, tmp_path / "s.json")
    # when stored
    stored = store_artifact(aws.s3, artifact=artifact, envelope=envelope,
                            bucket=stack.artifact_bucket, prefix="models/churn/abc",
                            kms_key_arn=stack.data_key_arn, workdir=tmp_path / "work")  # fmt: skip
    # then model.tar.gz holds the files at its root plus signature.dsse.json for serving
    local = tmp_path / "model.tar.gz"
    aws.s3.download_file(stored.model_data.bucket, stored.model_data.key, str(local))
    with tarfile.open(local) as tar:
        names = sorted(tar.getnames())
    assert names == ["extra/feature_importance.csv", "model.json", "model.txt",
                     "signature.dsse.json"], names  # fmt: skip


def test_bucket_policy_denies_upload_without_encryption_headers(
    aws: Aws, stack: EmulatedStack
) -> None:
    # given the graph's policy on the artifact bucket, when uploading with no SSE headers
    code = denied(lambda: aws.s3.put_object(Bucket=stack.artifact_bucket, Key="x", Body=b"1"))
    # then S3 denies it: default bucket encryption does not satisfy the policy
    assert code == "AccessDenied", code


def test_bucket_policy_denies_upload_with_another_kms_key(aws: Aws, stack: EmulatedStack) -> None:
    # given another KMS key in the account
    other = aws.kms.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
    # when uploading under it, then S3 denies it
    code = denied(
        lambda: aws.s3.put_object(
            Bucket=stack.artifact_bucket, Key="x", Body=b"1", **sse_kms_arguments(other)
        )
    )
    assert code == "AccessDenied", code


def test_bucket_policy_denies_sse_kms_upload_that_names_no_key(
    aws: Aws, stack: EmulatedStack
) -> None:
    # given an upload that asks for aws:kms but leaves the key to the bucket default
    code = denied(
        lambda: aws.s3.put_object(
            Bucket=stack.artifact_bucket, Key="x", Body=b"1", ServerSideEncryption="aws:kms"
        )
    )
    # then S3 denies it (ArnNotEqualsIfExists: the key header must be present and right)
    assert code == "AccessDenied", code


def test_upload_refuses_a_key_alias_before_calling_s3(
    aws: Aws, stack: EmulatedStack, tmp_path: Path
) -> None:
    # given an alias instead of the CMK's ARN
    path = tmp_path / "file.json"
    path.write_text("{}")
    # when uploading, then it fails before S3 with a message saying why
    with pytest.raises(MlopsError, match="full key ARN"):
        upload_file(aws.s3, path, S3Object(stack.artifact_bucket, "k"), "alias/mlops-dev-data")
