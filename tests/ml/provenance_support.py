"""Fixtures and helpers for the provenance, registry, storage and emulator tests.

Import the fixtures you use into a test module under their function names
(`from tests.ml.provenance_support import aws_fixture  # noqa: F401`); pytest knows them
as `aws` and `signing_key`. Clients are only ever created inside `aws`, after the
mock has started.
"""

from __future__ import annotations

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
    }
    values.update(overrides)
    return Provenance.model_validate(values)


def sign_directory(kms: Any, key_id: str, artifact: Path, out: Path | None = None) -> Path:
    """Sign through (emulated) KMS and write the envelope; default inside the artifact."""
    from ml.provenance.envelope import write_envelope

    signed = sign_artifact(artifact, provenance(), KmsSigner.for_key(kms, key_id))
    target = out or artifact / "signature.dsse.json"
    write_envelope(signed.envelope, target)
    return target
