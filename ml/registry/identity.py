"""Who did it: the AWS identity behind a release duty, and whether two are the same.

Separation of duties compares IAM principals, not sessions: every job that assumes a
role gets a fresh session name (`assumed-role/<role>/<session>`), so two sessions of
one role are one identity. `principal_of` maps an ARN to the principal that holds the
permissions: an assumed-role session to its role (the role path is not in a session
ARN, so roles compare by account and name), an IAM role ARN likewise, anything else
(an IAM user, the account root, a federated user) as it is.
"""

from __future__ import annotations

import re
from typing import Any

from common.errors import MlopsError
from ml.aws import aws_errors

_ASSUMED = re.compile(r"^arn:(?P<p>aws[a-z-]*):sts::(?P<a>\d{12}):assumed-role/(?P<r>[^/]+)/.+$")
_ROLE = re.compile(r"^arn:(?P<p>aws[a-z-]*):iam::(?P<a>\d{12}):role/(?:.*/)?(?P<r>[^/]+)$")
_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:\S+$")
_UNRECORDABLE = re.compile(r"[^\w .:/=+\-@]")
"""Characters SageMaker refuses in customer metadata values (a session name may hold `,`)."""


def caller_arn(sts: Any) -> str:
    """The caller's ARN (STS GetCallerIdentity), e.g. `arn:aws:sts::1:assumed-role/R/S`."""
    with aws_errors("asking STS who the caller is (GetCallerIdentity)"):
        return str(sts.get_caller_identity()["Arn"])


def recordable(arn: str) -> str:
    """The ARN as registry metadata can hold it (a refused character becomes `_`)."""
    return _UNRECORDABLE.sub("_", arn.strip())


def principal_of(arn: str) -> str:
    """The principal an ARN acts as: `arn:<p>:iam::<account>:role/<name>` for a role or
    one of its sessions, else the ARN itself (in its `recordable` form, so a recorded
    and a live ARN compare alike). `MlopsError` if it is no IAM/STS ARN."""
    arn = recordable(arn)
    for pattern in (_ASSUMED, _ROLE):
        found = pattern.match(arn)
        if found:
            return f"arn:{found['p']}:iam::{found['a']}:role/{found['r']}"
    if not _ARN.match(arn):
        raise MlopsError(f"identity {arn[:80]!r} is not an IAM or STS ARN")
    return arn


def same_principal(first: str, second: str) -> bool:
    """True when both ARNs act as one principal (one role, whatever the session names)."""
    return principal_of(first) == principal_of(second)
