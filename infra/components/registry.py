"""Registry: the ECR repository for the serving/training image and the model package groups."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from common.iam_document import Principal
from infra.policy_document import PolicyDocument, Statement

# What a promoting role of another account may do in this registry: read, never change.
PROMOTER_REGISTRY_ACTIONS = (
    "sagemaker:DescribeModelPackage",
    "sagemaker:DescribeModelPackageGroup",
)


@dataclass(frozen=True)
class RegistryArgs:
    repository_name: str
    kms_key_arn: pulumi.Input[str]
    model_groups: Sequence[str]
    """Model package group names (the model registry), one per model the stack serves."""
    untagged_image_expiry_days: int = 14
    max_release_images: int = 50
    force_delete: bool = False
    tags: dict[str, str] | None = None
    promoters: Sequence[pulumi.Input[str]] = ()
    """Promoting roles of other accounts: each group's resource policy lets them describe its
    packages (cross-account reads of a model registry need the group's policy)."""
    arn_prefix: pulumi.Input[str] | None = None
    """`arn:<partition>:sagemaker:<region>:<account>:` for the group policies' resources."""


class Registry(pulumi.ComponentResource):
    """Immutable, scanned, KMS-encrypted images and a SageMaker model registry."""

    repository_url: pulumi.Output[str]
    repository_arn: pulumi.Output[str]
    model_group_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:registry:Registry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        repository = aws.ecr.Repository(
            f"{name}-images",
            name=args.repository_name,
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS", "kms_key": args.kms_key_arn}],
            force_delete=args.force_delete,
            tags=args.tags,
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-images-lifecycle",
            repository=repository.name,
            policy=json.dumps(_lifecycle(args)),
            opts=child,
        )
        self.model_group_arns = {}
        for group in args.model_groups:
            package_group = aws.sagemaker.ModelPackageGroup(
                f"{name}-{group}",
                model_package_group_name=group,
                model_package_group_description=f"Signed, validated releases of {group}",
                tags=args.tags,
                opts=child,
            )
            self.model_group_arns[group] = package_group.arn
            if args.promoters:
                aws.sagemaker.ModelPackageGroupPolicy(
                    f"{name}-{group}-policy",
                    model_package_group_name=package_group.model_package_group_name,
                    resource_policy=_promoter_policy(args, group).to_json(),
                    opts=child,
                )
        self.repository_url = repository.repository_url
        self.repository_arn = repository.arn
        self.register_outputs(
            {
                "repository_url": self.repository_url,
                "repository_arn": self.repository_arn,
                "model_group_arns": self.model_group_arns,
            }
        )


def image_uri(repository_url: pulumi.Input[str], reference: str) -> pulumi.Output[str]:
    """`<account>.dkr.ecr.<region>.amazonaws.com/<repo>@sha256:<hex>` (or `:<tag>` in dev):
    the one place an image URI is built from the repository and the stack's reference."""
    return pulumi.Output.concat(repository_url, reference)


def _promoter_policy(args: RegistryArgs, group: str) -> PolicyDocument:
    assert args.arn_prefix is not None
    return PolicyDocument(
        [
            Statement(
                sid="PromotersReadPackages",
                principals=Principal("AWS", list(args.promoters)),
                actions=PROMOTER_REGISTRY_ACTIONS,
                resources=[
                    pulumi.Output.concat(args.arn_prefix, "model-package-group/", group),
                    pulumi.Output.concat(args.arn_prefix, "model-package/", group, "/*"),
                ],
            )
        ]
    )


def _lifecycle(args: RegistryArgs) -> dict[str, object]:
    """Expire untagged layers; keep the newest release images (tags are immutable)."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": "expire untagged images",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": args.untagged_image_expiry_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": "keep the newest release images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": args.max_release_images,
                },
                "action": {"type": "expire"},
            },
        ]
    }
