"""Experiment tracking: the stack's SageMaker managed MLflow tracking server.

The server keeps runs in its own managed store and artifacts under `mlflow/` of the
artifact bucket (`contracts.TRACKING_PREFIX`), which it reaches with the `tracking` role:
that prefix only, and the data CMK only through S3 (the bucket's default SSE-KMS). The
API takes no KMS key of its own; the managed metadata store is AWS-encrypted. Training
runs log through the `sagemaker-mlflow` API, granted to the launcher roles on this
server's ARN only (infra/components/permissions.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.contracts import TRACKING_PREFIX


@dataclass(frozen=True)
class ExperimentTrackingArgs:
    artifact_bucket: pulumi.Input[str]
    """The stack's artifact bucket; the server's artifacts go under `TRACKING_PREFIX`."""
    role_arn: pulumi.Input[str]
    """The `tracking` role (Identity), allowed that prefix and nothing else."""
    size: str
    """`Small`, `Medium` or `Large` (config `tracking.size`)."""
    weekly_maintenance_window_start: str
    """`DDD:HH:MM` UTC."""
    tags: dict[str, str] | None = None


def tracking_server_name(prefix: str) -> str:
    """The server's fixed name (`mlops-<env>`), so grants can name its ARN before it exists."""
    return prefix


class ExperimentTracking(pulumi.ComponentResource):
    """One tracking server; no automatic registration (the registry is written only by
    `mlops register`, which verifies the signature first)."""

    server_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: ExperimentTrackingArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("mlops:tracking:ExperimentTracking", name, None, opts)
        server = aws.sagemaker.MlflowTrackingServer(
            f"{name}-mlflow",
            tracking_server_name=tracking_server_name(name),
            artifact_store_uri=pulumi.Output.concat(
                "s3://", args.artifact_bucket, "/", TRACKING_PREFIX
            ),
            role_arn=args.role_arn,
            tracking_server_size=args.size,
            weekly_maintenance_window_start=args.weekly_maintenance_window_start,
            automatic_model_registration=False,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.server_arn = server.arn
        self.register_outputs({"server_arn": self.server_arn})
