"""ARN builders for resources named by this program's prefix, so policies stay narrow."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


def concat(*parts: pulumi.Input[str]) -> pulumi.Output[str]:
    """`pulumi.Output.concat`, with the Outputs it makes cut down: the same value, secrecy
    and dependencies. Plain strings are joined first, and a lone Output is applied to
    directly: `Output.concat` lifts every part into an Output and then an `all` and an
    `apply` (22 Outputs for an ARN of ten parts), and the render creates thousands."""
    merged: list[pulumi.Input[str]] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    inputs = [i for i, part in enumerate(merged) if not isinstance(part, str)]
    if not inputs:
        return pulumi.Output.from_input("".join(merged))  # type: ignore[arg-type]
    [only] = inputs if len(inputs) == 1 else [None]
    if only is not None and isinstance(output := merged[only], pulumi.Output):
        before, after = "".join(merged[:only]), "".join(merged[only + 1 :])  # type: ignore[arg-type]
        return output.apply(lambda value: before + value + after)
    return pulumi.Output.concat(*merged)


@dataclass(frozen=True)
class Arns:
    """ARN patterns in one account and region, e.g. `arns.sagemaker("training-job", prefix)`."""

    partition: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]

    def _arn(self, service: str, region: str, resource: str) -> pulumi.Output[str]:
        return concat(
            "arn:", self.partition, ":", service, ":", region, ":", self.account_id, ":", resource
        )

    def sagemaker(self, kind: str, name: str) -> pulumi.Output[str]:
        return self._arn("sagemaker", self.region, f"{kind}/{name}")

    def iam_role(self, name: str) -> pulumi.Output[str]:
        return self._arn("iam", "", f"role/{name}")

    def log_group(self, name: str) -> pulumi.Output[str]:
        return self._arn("logs", self.region, f"log-group:{name}")

    def log_streams(self, name: str) -> pulumi.Output[str]:
        return self._arn("logs", self.region, f"log-group:{name}:log-stream:*")

    def ecr_repository(self, name: str) -> pulumi.Output[str]:
        return self._arn("ecr", self.region, f"repository/{name}")

    def service(self, service: str, resource: str) -> pulumi.Output[str]:
        return self._arn(service, self.region, resource)

    def root(self) -> pulumi.Output[str]:
        return concat("arn:", self.partition, ":iam::", self.account_id, ":root")


def s3_bucket(partition: pulumi.Input[str], bucket: pulumi.Input[str]) -> pulumi.Output[str]:
    return concat("arn:", partition, ":s3:::", bucket)


def s3_objects(
    partition: pulumi.Input[str], bucket: pulumi.Input[str], prefix: str = ""
) -> pulumi.Output[str]:
    return concat("arn:", partition, ":s3:::", bucket, "/", prefix, "*")
