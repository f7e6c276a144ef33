"""What `pulumi preview` / `pulumi up` need in the S3 state backend, per stack.

Pulumi's DIY backend keeps each stack's checkpoint, history and locks under prefixes named
in `infra.contracts` (section N). A stack's plan role reads its own checkpoint and takes and
releases its own lock; its deploy role also writes the checkpoint and history. The state
objects are SSE-KMS with the state CMK, and the secrets provider `awskms://` decrypts the
stack's secrets with the same key, called directly (not through S3).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from common.iam_document import Condition
from infra.arns import s3_bucket
from infra.contracts import (
    STATE_HISTORY_PREFIX,
    STATE_KEY_ALIAS,
    STATE_LOCKS_PREFIX,
    STATE_META_KEY,
    STATE_STACKS_PREFIX,
)
from infra.policy_document import Statement


def _objects(partition: pulumi.Input[str], bucket: pulumi.Input[str], key: str):
    return pulumi.Output.concat("arn:", partition, ":s3:::", bucket, "/", key)


def state_key_arns(partition: pulumi.Input[str], region: str, account_id: pulumi.Input[str]):
    """Any key of the account, narrowed by the alias condition of `state_statements`: the
    main stacks do not know the key id the bootstrap created."""
    return pulumi.Output.concat("arn:", partition, ":kms:", region, ":", account_id, ":key/*")


def state_statements(
    sid: str,
    partition: pulumi.Input[str],
    bucket: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    stacks: Sequence[str] | None,
    write: bool,
) -> list[Statement]:
    """Grants on the state of `stacks` (None: every stack of the project, for the infra
    role); `write` adds the checkpoint and history writes of `pulumi up`."""
    names = list(stacks) if stacks is not None else [""]
    checkpoints = [_objects(partition, bucket, f"{STATE_STACKS_PREFIX}{n}*") for n in names]
    locks = [_objects(partition, bucket, f"{STATE_LOCKS_PREFIX}{n}*") for n in names]
    history = [_objects(partition, bucket, f"{STATE_HISTORY_PREFIX}{n}*") for n in names]
    statements = [
        Statement(
            sid=f"{sid}ListsState",
            actions=["s3:ListBucket"],
            resources=[s3_bucket(partition, bucket)],
            conditions=[Condition("StringLike", "s3:prefix", [".pulumi/*"])],
        ),
        Statement(
            sid=f"{sid}ReadsState",
            actions=["s3:GetObject"],
            resources=[_objects(partition, bucket, STATE_META_KEY), *checkpoints, *history],
        ),
        Statement(
            sid=f"{sid}TakesStackLock",
            actions=("s3:DeleteObject", "s3:GetObject", "s3:PutObject"),
            resources=locks,
        ),
        Statement(
            sid=f"{sid}UsesStateKey",
            # Reading decrypts; S3 generates a data key for every object written, the lock
            # files of a preview included.
            actions=("kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"),
            resources=[key_arn],
            conditions=[
                Condition("ForAnyValue:StringEquals", "kms:ResourceAliases", [STATE_KEY_ALIAS])
            ],
        ),
    ]
    if write:
        statements.append(
            Statement(
                sid=f"{sid}WritesState",
                actions=("s3:DeleteObject", "s3:PutObject"),
                resources=[*checkpoints, *history],
            )
        )
    return statements
