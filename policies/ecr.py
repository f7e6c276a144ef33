"""ECR: images that cannot be retagged, are scanned on push, KMS-encrypted and pruned."""

from __future__ import annotations

from policies.core import MANDATORY, Policy, ResourceCheck, StackCheck
from policies.resource_policies import check_not_public, parsed_policy

REPOSITORY = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"


def _check_immutable(check: ResourceCheck) -> None:
    mutability = check.get("imageTagMutability", "MUTABLE")
    if mutability != "IMMUTABLE":
        check.violation(
            "image tags must be IMMUTABLE (a released tag always means the same image)",
            mutability,
            'set image_tag_mutability="IMMUTABLE"',
        )


TAGS_IMMUTABLE = Policy(
    name="ecr-repository-tags-immutable",
    description="Checks whether every ECR repository makes image tags immutable.",
    enforcement=MANDATORY,
    controls=("FSBP ECR.2", "NIST CM-3", "NIST SI-7"),
    validators={REPOSITORY: _check_immutable},
)


def _check_scan(check: ResourceCheck) -> None:
    scan = check.get("imageScanningConfiguration.scanOnPush")
    if scan is not True:
        check.violation(
            "images must be scanned for vulnerabilities on push",
            scan,
            'set image_scanning_configuration={"scan_on_push": True}',
        )


SCAN_ON_PUSH = Policy(
    name="ecr-repository-scan-on-push",
    description="Checks whether every ECR repository scans images for vulnerabilities "
    "when they are pushed.",
    enforcement=MANDATORY,
    controls=("FSBP ECR.1", "NIST RA-5", "NIST SI-7"),
    validators={REPOSITORY: _check_scan},
)


def _check_kms(check: ResourceCheck) -> None:
    kind = check.get("encryptionConfigurations.0.encryptionType", "AES256")
    key = check.get("encryptionConfigurations.0.kmsKey")
    if kind != "KMS":
        check.violation(
            "images must be encrypted with a customer managed KMS key",
            f"encryption_type {kind}",
            'set encryption_configurations=[{"encryption_type": "KMS", "kms_key": <CMK ARN>}]',
        )
    elif not key:
        check.violation(
            "images must be encrypted with a customer managed KMS key",
            "kms_key not set (the AWS managed aws/ecr key)",
            "set kms_key to the stack's data CMK ARN",
        )


ENCRYPTED_WITH_CMK = Policy(
    name="ecr-repository-encrypted-with-customer-kms-key",
    description="Checks whether every ECR repository encrypts images with a customer "
    "managed KMS key.",
    enforcement=MANDATORY,
    controls=("NIST SC-28", "NIST SC-12"),
    validators={REPOSITORY: _check_kms},
)


def _check_lifecycle(stack: StackCheck) -> None:
    for repository in stack.resources(REPOSITORY):
        check = stack.check(repository)
        policies = stack.referrers(repository, LIFECYCLE, "repository")
        if not policies:
            check.violation(
                "a lifecycle policy must expire untagged and old images",
                "no LifecyclePolicy",
                "add aws.ecr.LifecyclePolicy with repository=<repository name>",
            )
            continue
        check.look(policies[0], "policy")


LIFECYCLE_POLICY = Policy(
    name="ecr-repository-lifecycle-policy",
    description="Checks whether every ECR repository has a lifecycle policy.",
    enforcement=MANDATORY,
    severity="low",
    controls=("FSBP ECR.3", "NIST SI-12", "NIST CM-7"),
    stack_validator=_check_lifecycle,
    subject_types=(REPOSITORY,),
)


def _check_repository_policy(check: ResourceCheck) -> None:
    statements = parsed_policy(check)
    if statements is not None:
        check_not_public(
            check,
            statements,
            "name the accounts or roles that may pull, or add an aws:PrincipalOrgID condition",
        )


POLICY_NOT_PUBLIC = Policy(
    name="ecr-repository-policy-not-public",
    description="Checks whether an ECR repository policy allows everyone (Principal '*') "
    "without an account or organisation condition.",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST AC-3", "NIST AC-21"),
    validators={REPOSITORY_POLICY: _check_repository_policy},
)

POLICIES = (TAGS_IMMUTABLE, SCAN_ON_PUSH, ENCRYPTED_WITH_CMK, LIFECYCLE_POLICY, POLICY_NOT_PUBLIC)
