"""Cross-account exposure: resource policies that let other accounts in, and resources
encrypted with keys other accounts hold.

Both compare with the stack's own account (`policies.accounts`): a policy that names
another account's root, or whose conditions an outsider can satisfy, exposes the resource;
a key in another account puts the data's confidentiality (and its deletion) in that
account's hands.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from common.iam_document import MalformedPolicy, Statement, parse_document
from policies.accounts import (
    ACCOUNT_PARAMS,
    arn_account,
    foreign_references,
    outsiders_admitted,
    own_of,
)
from policies.core import MANDATORY, Policy, ResourceCheck, StackCheck, Subject, peek

KEY = "aws:kms/key:Key"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
REPOSITORY_POLICY = "aws:ecr/repositoryPolicy:RepositoryPolicy"
RESOURCE_POLICY_TYPES = (KEY, BUCKET_POLICY, TOPIC_POLICY, REPOSITORY_POLICY)

# Where each resource type names the KMS key that encrypts it (`*` walks a list).
KEY_REFERENCES: dict[str, tuple[str, ...]] = {
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "rules.*.applyServerSideEncryptionByDefault.kmsMasterKeyId",
    ),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": (
        "kmsKeyArn",
        "dataCaptureConfig.kmsKeyId",
        "asyncInferenceConfig.outputConfig.kmsKeyId",
    ),
    "aws:sns/topic:Topic": ("kmsMasterKeyId",),
    "aws:cloudwatch/logGroup:LogGroup": ("kmsKeyId",),
    "aws:ecr/repository:Repository": ("encryptionConfigurations.*.kmsKey",),
    "aws:cloudtrail/trail:Trail": ("kmsKeyId",),
    "aws:sqs/queue:Queue": ("kmsMasterKeyId",),
}


PUBLIC_KEY_ACTIONS = frozenset({"kms:describekey", "kms:getpublickey", "kms:verify"})
"""What anyone may do with a signing key's public half: nothing secret, nothing to change."""


def _public_key_only(statement: Statement) -> bool:
    """Named public-key operations only (no NotAction, no wildcard)."""
    actions = {a.lower() for a in statement.actions}
    return bool(actions) and not statement.not_actions and actions <= PUBLIC_KEY_ACTIONS


UNKNOWN_ACCOUNT = (
    "the stack's account is not known yet (no resource ARN; set the accountIds config)"
)


def _check_resource_policies(stack: StackCheck) -> None:
    own = own_of(stack.subjects, stack.config)
    for subject in stack.resources(*RESOURCE_POLICY_TYPES):
        if not own.accounts:
            stack.skip(subject, UNKNOWN_ACCOUNT)
            continue
        check = stack.check(subject)
        raw = check.get("policy")
        if raw is None:
            continue
        try:
            statements = parse_document(raw)
        except MalformedPolicy as error:
            check.violation("the policy must be a JSON policy document", str(error), "fix it")
            continue
        check.note("stack accounts", sorted(own.accounts))
        for statement in statements:
            outsiders = outsiders_admitted(statement, own)
            if _public_key_only(statement):
                # A peer's account may verify (staging lets prod check what it promotes):
                # a public-key operation exposes nothing; any other account still fails.
                peer_accounts = {arn_account(p) for p in own.peers}
                outsiders = [o for o in outsiders if arn_account(o) not in peer_accounts]
            if outsiders:
                check.violation(
                    f"statement {statement.label} must admit only principals of this stack's "
                    f"account {', '.join(sorted(own.accounts)) or '(unknown)'}",
                    outsiders,
                    "name this account's roles or root, and pin service principals with "
                    "aws:SourceAccount / aws:SourceArn of this account",
                )


ADMIT_OWN_ACCOUNT_ONLY = Policy(
    name="resource-policies-admit-stack-account-only",
    description="Checks whether key, bucket, topic and repository policies admit only the "
    "stack's own account: no other account's principals, no `*` or service principal whose "
    "conditions a caller from another account can satisfy.",
    enforcement=MANDATORY,
    severity="critical",
    controls=("NIST AC-3", "NIST AC-21", "NIST AC-6"),
    stack_validator=_check_resource_policies,
    subject_types=RESOURCE_POLICY_TYPES,
    params=ACCOUNT_PARAMS,
)


def values_at(props: Any, path: str) -> Iterator[object]:
    """Every value at a dotted `path` whose `*` parts walk each item of a list."""
    head, _, rest = path.partition(".")
    if head == "*":
        items = props if isinstance(props, list | tuple) else []
    else:
        items = [peek(props, head)] if isinstance(props, dict) or hasattr(props, "get") else []
    for item in items:
        if item is None:
            continue
        if rest:
            yield from values_at(item, rest)
        else:
            yield item


def _key_references(check: ResourceCheck, subject: Subject) -> list[object]:
    found: list[object] = []
    for path in KEY_REFERENCES.get(subject.type, ()):
        values = list(values_at(subject.props, path))
        if values:
            check.note(path, values)
        found += values
    return found


def _check_key_accounts(stack: StackCheck) -> None:
    own = own_of(stack.subjects, stack.config)
    for subject in stack.resources(*KEY_REFERENCES):
        if not own.accounts:
            stack.skip(subject, UNKNOWN_ACCOUNT)
            continue
        check = stack.check(subject)
        references = _key_references(check, subject)
        if not references:
            stack.skip(subject, "names no KMS key")
            continue
        foreign = foreign_references(references, own)
        if foreign:
            check.violation(
                f"data must be encrypted with a key of this stack's account "
                f"{', '.join(sorted(own.accounts)) or '(unknown)'}",
                foreign,
                "use the stack's data CMK (another account could read or destroy the data)",
            )


KEYS_OF_OWN_ACCOUNT = Policy(
    name="encryption-keys-of-stack-account",
    description="Checks whether every resource that names a KMS key (bucket encryption, "
    "endpoint volumes and data capture, topics, log groups, repositories, trails) uses a "
    "key of the stack's own account.",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST SC-12", "NIST SC-28"),
    stack_validator=_check_key_accounts,
    subject_types=tuple(KEY_REFERENCES),
    params=ACCOUNT_PARAMS,
)

POLICIES = (ADMIT_OWN_ACCOUNT_ONLY, KEYS_OF_OWN_ACCOUNT)
