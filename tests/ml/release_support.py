"""Fixtures for the release tests: stack files, published models, serving endpoints.

Import fixtures under their function names (`stack_root_fixture`, `registry_fixture`,
`clock_fixture`), as tests/ml/provenance_support.py does.

moto serves SageMaker's registry, models, endpoint configurations and endpoints, S3 and
KMS. Only DescribeEndpoint during a deployment is scripted: moto has no UpdateEndpoint
and no blue/green deployment, so `ScriptedEndpoint` answers DescribeEndpoint from a
botocore `Stubber` (responses validated against SageMaker's API model) and passes every
other call to the moto client, behind the same boto3 client interface the code uses.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from infra.config import load_stack
from ml.provenance.archive import store_artifact
from ml.provenance.kms import KmsSigner
from ml.provenance.manifest import build_manifest
from ml.registry.packages import Registration, approve, register_model_package
from tests.ml.provenance_support import (
    ACCOUNT,
    APPROVER,
    REGION,
    SIGNER,
    Aws,
    provenance,
    sign_directory,
    write_artifact,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL = "churn-classifier"
DIGEST = "sha256:" + "0" * 64
"""The image digest the shipped stack files name (the placeholder until a first push)."""
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-staging-model-server@{DIGEST}"


@pytest.fixture(name="stack_root")
def stack_root_fixture(tmp_path: Path) -> Path:
    """A repository root holding copies of the shipped stack files (edits stay in tmp)."""
    root = tmp_path / "repo"
    root.mkdir()
    for path in REPO_ROOT.glob("Pulumi.*.yaml"):
        shutil.copy(path, root / path.name)
    return root


class Registry:
    """Publishes models the way train -> sign -> register -> approve does, into moto."""

    def __init__(self, aws: Aws, workdir: Path, stack: str = "staging"):
        self.aws = aws
        self.workdir = workdir
        self.stack = stack
        self.group = f"mlops-{stack}-{MODEL}"
        self.bucket = f"mlops-{stack}-artifacts"
        key = aws.kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")
        self.signing_key_arn = key["KeyMetadata"]["Arn"]
        aws.kms.create_alias(
            AliasName=f"alias/mlops-{stack}-signing",
            TargetKeyId=self.signing_key_arn.rsplit("/", 1)[-1],
        )
        self.data_key_arn = aws.kms.create_key()["KeyMetadata"]["Arn"]
        aws.s3.create_bucket(
            Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        aws.sagemaker.create_model_package_group(ModelPackageGroupName=self.group)
        self._published = 0

    def publish(
        self,
        *,
        approved: bool = True,
        gates: str = "passed",
        approved_by: str = APPROVER,
        image: str = IMAGE,
        **signed: Any,
    ) -> int:
        """Train (a distinct artifact), sign with KMS for the next version (`signed`
        overrides the statement), store, register as the release role, approve as
        `approved_by`; the version."""
        self._published += 1
        n = self._published
        artifact = write_artifact(self.workdir / f"model-{n}", extra_files=n)
        binding = {
            "stack": self.stack,
            "model_package_group": self.group,
            "version": n,
            **signed,
        }
        envelope = sign_directory(
            self.aws.kms, self.signing_key_arn, artifact, self.workdir / f"sig-{n}.json", **binding
        )
        stored = store_artifact(
            self.aws.s3,
            artifact=artifact,
            envelope=envelope,
            bucket=self.bucket,
            prefix=f"models/{self.group}/{n}",
            kms_key_arn=self.data_key_arn,
            workdir=self.workdir / f"pack-{n}",
        )
        signer = KmsSigner.for_key(self.aws.kms, self.signing_key_arn)
        outcome = register_model_package(
            self.aws.sagemaker,
            Registration(
                group=self.group,
                image_uri=image,
                model_data_url=stored.model_data.uri,
                artifact_digest=build_manifest(artifact).digest(),
                signature_s3_uri=stored.signature.uri,
                signing_key_arn=self.signing_key_arn,
                signing_keyid=signer.key.keyid,
                provenance=provenance(**binding),
                owner="ml-platform",
                validation_gates=gates,
                registered_by=SIGNER,
            ),
        )
        version = outcome.package.version
        if approved:
            approve(
                self.aws.sagemaker,
                self.group,
                version,
                "canary rehearsal passed",
                approved_by=approved_by,
            )
        return version

    def approve_bypassing_mlops(self, version: int, approver: str | None) -> None:
        """Approve with a bare UpdateModelPackage, as a caller skipping `mlops approve`'s own
        refusal would, recording `approver` as approved_by (or nobody)."""
        group_arn = self.aws.sagemaker.describe_model_package_group(
            ModelPackageGroupName=self.group
        )["ModelPackageGroupArn"]
        arn = group_arn.replace(":model-package-group/", ":model-package/") + f"/{version}"
        request: dict[str, Any] = {
            "ModelPackageArn": arn,
            "ModelApprovalStatus": "Approved",
            "ApprovalDescription": "approved directly",
        }
        if approver is not None:
            metadata = self.aws.sagemaker.describe_model_package(ModelPackageName=arn)[
                "CustomerMetadataProperties"
            ]
            request["CustomerMetadataProperties"] = {**metadata, "approved_by": approver}
        self.aws.sagemaker.update_model_package(**request)

    def model_data_key(self, version: int) -> str:
        return f"models/{self.group}/{version}/model.tar.gz"


@pytest.fixture(name="registry")
def registry_fixture(aws: Aws, tmp_path: Path) -> Registry:
    return Registry(aws, tmp_path / "registry")


def serve(sagemaker: Any, stack: str, version: int, *, create_endpoint: bool = False) -> str:
    """A Model and EndpointConfiguration serving `version` as the serving component builds
    them (the package ARN as the container); the endpoint itself only if asked."""
    group = f"mlops-{stack}-{MODEL}"
    model = f"{group}-v{version}"
    sagemaker.create_model(
        ModelName=model,
        PrimaryContainer={
            "ModelPackageName": (
                f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group}/{version}"
            )
        },
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/mlops-{stack}-inference",
    )
    config = f"{model}-config"
    sagemaker.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "primary",
                "ModelName": model,
                "InitialInstanceCount": 2,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    if create_endpoint:
        sagemaker.create_endpoint(EndpointName=group, EndpointConfigName=config)
    return config


def endpoint_response(
    stack: str, status: str, config: str, *, pending: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """A DescribeEndpoint answer as SageMaker gives it during a blue/green deployment."""
    name = f"mlops-{stack}-{MODEL}"
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    response: dict[str, Any] = {
        "EndpointName": name,
        "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{name}",
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": now,
        "LastModifiedTime": now,
    }
    if pending:
        response["PendingDeploymentSummary"] = {"EndpointConfigName": pending}
    if reason:
        response["FailureReason"] = reason
    return response


class ScriptedEndpoint:
    """The moto client, except DescribeEndpoint, which replays a deployment's answers."""

    def __init__(self, moto_client: Any, responses: Sequence[dict[str, Any]]):
        self._moto = moto_client
        self._stubbed = boto3.client("sagemaker", region_name=REGION)
        self.stubber = Stubber(self._stubbed)
        for response in responses:
            self.stubber.add_response("describe_endpoint", response)
        self.stubber.activate()

    def describe_endpoint(self, **kwargs: Any) -> dict[str, Any]:
        return self._stubbed.describe_endpoint(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._moto, name)


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def stack_config(root: Path, stack: str = "staging"):
    return load_stack(stack, root)


@pytest.fixture(name="clock")
def clock_fixture() -> Iterator[FakeClock]:
    yield FakeClock()
