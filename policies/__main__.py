"""`pulumi preview --policy-pack policies`: the mlops guardrails as a CrossGuard pack.

Every policy comes from `policies.pack` (the same objects the offline audit runs);
unexpired waivers from `policies/waivers.yaml` are honoured, expired ones are not.
"""

import sys
from datetime import date
from pathlib import Path

_PACK_DIR = Path(__file__).resolve().parent
# Pulumi runs this file with the pack directory first on sys.path, where our domain
# modules (kubernetes.py, sagemaker.py, ...) would shadow the libraries of those names.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _PACK_DIR]
sys.path.insert(0, str(_PACK_DIR.parent))  # the repository: `policies`, `ml` importable

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.core import PACK_NAME, Subject  # noqa: E402
from policies.crossguard import crossguard_policies  # noqa: E402
from policies.pack import BY_NAME, POLICIES  # noqa: E402
from policies.waivers import DEFAULT_WAIVERS, load_waivers  # noqa: E402

WAIVERS = load_waivers(DEFAULT_WAIVERS, BY_NAME)


def waived(policy: str, subject: Subject, environment: str | None) -> bool:
    waiver = WAIVERS.match(policy, subject, environment)
    return waiver is not None and not waiver.expired(date.today())


PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=crossguard_policies(POLICIES, waived),
    description="mlops guardrails: S3, KMS, IAM, SageMaker, ECR, SNS, CloudWatch, network, "
    "CloudTrail and Kubernetes controls mapped to Security Hub, CIS and NIST 800-53.",
)
