"""`mlops verify` as a function: is this artifact exactly what the trusted key signed?

The command and the demo both call `verify_signed_artifact`, so both refuse the same way:
no trusted key is bad input (exit 2); a signature by another key, an altered statement or
a file whose digest differs from the signed one is a `CheckFailed` (exit 1; 2 when the
artifact or its envelope cannot be read) carrying the `VerificationResult`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common.errors import CheckFailed, MlopsError
from infra.contracts import Env
from ml.provenance.check import (
    VerificationResult,
    default_signature,
    trusted_verifier,
    verify_artifact,
)


def verify_signed_artifact(
    artifact: Path,
    *,
    signature: Path | None = None,
    public_key: Path | None = None,
    key_id: str | None = None,
    kms: Callable[[], Any] | None = None,
) -> VerificationResult:
    """Verify `artifact` against its DSSE envelope (`signature`, default the one inside it)
    with the exported `public_key` (offline, wins) or the KMS key `key_id` (`kms` makes the
    client, default `ml.aws`'s); the result when every file is the signed one."""
    if public_key is None and not key_id:
        raise MlopsError(
            f"no trusted key: pass --public-key PEM (offline) or --key-id (KMS), or set "
            f"{Env.SIGNING_PUBLIC_KEY} / {Env.SIGNING_KEY_ID}"
        )
    verifier = trusted_verifier(public_key, key_id or "", kms or _default_kms)
    with tempfile.TemporaryDirectory(prefix="mlops-verify-") as tmp:
        envelope = signature or default_signature(artifact, Path(tmp))
        result = verify_artifact(artifact, envelope, verifier)
    if not result.ok:
        raise CheckFailed(result.reason, result, exit_code=2 if result.bad_input else 1)
    return result


def _default_kms() -> Any:
    from ml import aws

    return aws.client("kms")
