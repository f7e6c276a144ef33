"""The policy pack: every policy, in one place, for CrossGuard and for the offline audit."""

from __future__ import annotations

from policies import (
    cloudtrail,
    cross_account,
    ecr,
    github,
    iam,
    iam_escalation,
    kms,
    kubernetes,
    logs,
    network,
    s3,
    sagemaker,
    sns,
    trust,
)
from policies.controls import check_mappings
from policies.core import Policy

DOMAINS = {
    "S3": s3.POLICIES,
    "KMS": kms.POLICIES,
    "IAM": iam.POLICIES + iam_escalation.POLICIES,
    "Trust": trust.POLICIES,
    "Accounts": cross_account.POLICIES,
    "SageMaker": sagemaker.POLICIES,
    "ECR": ecr.POLICIES,
    "SNS": sns.POLICIES,
    "CloudWatch": logs.POLICIES,
    "Network": network.POLICIES,
    "CloudTrail": cloudtrail.POLICIES,
    "Kubernetes": kubernetes.POLICIES,
    "GitHub": github.POLICIES,
}
POLICIES: tuple[Policy, ...] = tuple(p for group in DOMAINS.values() for p in group)
BY_NAME: dict[str, Policy] = {p.name: p for p in POLICIES}
DOMAIN_OF: dict[str, str] = {p.name: d for d, group in DOMAINS.items() for p in group}

if len(BY_NAME) != len(POLICIES):  # pragma: no cover - caught by the tests at once
    raise RuntimeError("two policies share a name")
check_mappings(POLICIES)  # a control ID outside the shipped lists fails the import
