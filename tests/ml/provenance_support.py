"""Fixtures and helpers for the provenance, registry, storage and emulator tests.

Import the fixtures you use into a test module under their function names
(`from tests.ml.provenance_support import aws_fixture  # noqa: F401`); pytest knows them
as `aws` and `signing_key`. Clients are only ever created inside `aws`, after the
mock has started.
"""

from __future__ import annotations

import contextlib
import json
import tarfile
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ml.emulator import patches
from ml.provenance.kms import KmsSigner
from ml.provenance.sign import sign_artifact
from ml.provenance.statement import Provenance

REGION = "eu-west-1"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
DATA_HASH = "sha256:" + "ab" * 32
ACCOUNT = "123456789012"
RELEASE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlops-staging-gh-release"
SIGNER = f"arn:aws:sts::{ACCOUNT}:assumed-role/mlops-staging-gh-release/GitHubActions-sign-41"
"""The release role's session that signs and registers (as CI runs it)."""
APPROVER = f"arn:aws:sts::{ACCOUNT}:assumed-role/mlops-staging-gh-approve/GitHubActions-approve-7"
"""The approver role's session: another identity than the signer's."""


class Aws:
    """Clients on the mock, each created on first use (client creation dominates run time)."""

    @cached_property
    def kms(self) -> Any:
        return boto3.client("kms", region_name=REGION)

    @cached_property
    def s3(self) -> Any:
        return boto3.client("s3", region_name=REGION)

    @cached_property
    def sagemaker(self) -> Any:
        return boto3.client("sagemaker", region_name=REGION)

    @cached_property
    def iam(self) -> Any:
        return boto3.client("iam", region_name=REGION)

    @cached_property
    def sts(self) -> Any:
        return boto3.client("sts", region_name=REGION)


@pytest.fixture(name="aws")
def aws_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto with the emulator's patches, fake credentials, one region, no endpoint override."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    with patches.patched(), mock_aws():
        yield Aws()


def act_as(aws: Aws, monkeypatch: pytest.MonkeyPatch, role: str, session: str) -> str:
    """From now on, `mlops` commands run as a new STS session of `role` (created if
    missing), as a GitHub job does after assuming it; returns the session's ARN."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
        ],
    }
    with contextlib.suppress(aws.iam.exceptions.EntityAlreadyExistsException):
        aws.iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    credentials = aws.sts.assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName=session
    )["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"


def create_signing_key(kms: Any, alias: str = "alias/mlops-test-signing") -> str:
    arn = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName=alias, TargetKeyId=arn.rsplit("/", 1)[-1])
    return arn


@pytest.fixture(name="signing_key")
def signing_key_fixture(aws: Aws) -> str:
    """ARN of an ECC_NIST_P256 SIGN_VERIFY key with alias alias/mlops-test-signing."""
    return create_signing_key(aws.kms)


def write_artifact(root: Path, extra_files: int = 0) -> Path:
    """A model artifact as the trainer writes it (model.txt, model.json, a sub-folder)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.txt").write_text("tree\nversion=v4\nnum_class=1\n" * 20, encoding="utf-8")
    card = {
        "format_version": 1,
        "library": "lightgbm",
        "library_version": "4.5.0",
        "features": ["tenure", "charges"],
        "n_features": 2,
        "classes": [0, 1],
        "params": {"learning_rate": 0.05, "num_leaves": 31},
        "training_data_hash": DATA_HASH,
        "metrics": {"roc_auc": 0.91, "accuracy": 0.87},
        "training": {"iterations": 100, "seed": 7},
    }
    (root / "model.json").write_text(json.dumps(card), encoding="utf-8")
    (root / "extra").mkdir(exist_ok=True)
    (root / "extra" / "feature_importance.csv").write_text("tenure,10\ncharges,5\n")
    for index in range(extra_files):
        (root / "extra" / f"shard-{index:04d}.bin").write_bytes(bytes([index % 256]) * 64)
    return root


def tar_artifact(directory: Path, out: Path) -> Path:
    """`tar -C dir -czf out .`: members named ./<path>, as people usually pack them."""
    with tarfile.open(out, "w:gz") as tar:
        tar.add(directory, arcname=".")
    return out


def provenance(**overrides: Any) -> Provenance:
    values: dict[str, Any] = {
        "git_commit": COMMIT,
        "training_data_hash": DATA_HASH,
        "hyperparameters": {"learning_rate": 0.05, "num_leaves": 31},
        "training_job_name": "churn-train-2026-11-23-12-00-00",
        "metrics": {"roc_auc": 0.91, "accuracy": 0.87},
        "builder_id": "https://github.com/acme/mlops-gitops/.github/workflows/model-train.yml@refs/heads/main",
        "repository": "https://github.com/acme/mlops-gitops",
        "model": "churn-classifier",
        "stack": "staging",
        "model_package_group": "mlops-staging-churn-classifier",
        "version": 1,
        "signed_by": SIGNER,
    }
    values.update(overrides)
    return Provenance.model_validate(values)


def sign_directory(
    kms: Any, key_id: str, artifact: Path, out: Path | None = None, **overrides: Any
) -> Path:
    """Sign through (emulated) KMS and write the envelope; default inside the artifact.
    `overrides` change the statement's provenance (e.g. `version=2`)."""
    from ml.provenance.envelope import write_envelope

    signed = sign_artifact(artifact, provenance(**overrides), KmsSigner.for_key(kms, key_id))
    target = out or artifact / "signature.dsse.json"
    write_envelope(signed.envelope, target)
    return target
