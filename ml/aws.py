"""boto3 sessions and clients the same way everywhere, plus one-line AWS errors.

Every AWS call in `ml` goes through a client made here, so the standard settings of
boto3 apply unchanged and the same command runs against real AWS and the embedded
emulator:

- `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_<SERVICE>`): botocore reads it itself.
- `AWS_PROFILE`: the named profile (credentials, region, role to assume).
- `AWS_REGION`: honoured here as the region when nothing more specific is given
  (botocore itself only reads `AWS_DEFAULT_REGION` and the profile), as the other AWS
  SDKs and the AWS CLI v2 do.

Adapters take a client as an argument; only commands create them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.config
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from common.errors import MlopsError

_CONFIG = botocore.config.Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=10,
    read_timeout=60,
    user_agent_extra="mlops-gitops",
)

# Error codes that mean "the caller may not do this", across services.
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AccessDeniedError",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
    }
)


def session(profile: str | None = None, region: str | None = None) -> boto3.session.Session:
    """A boto3 session: explicit arguments first, then `AWS_PROFILE` / `AWS_REGION`."""
    return _new_session(profile, region)


def _new_session(profile: str | None, region: str | None) -> boto3.session.Session:
    profile = profile or os.environ.get("AWS_PROFILE") or None
    region = region or os.environ.get("AWS_REGION") or None
    core = botocore.session.Session()
    # A fresh session re-reads botocore's service models from disk (~0.1 s per client);
    # the loader holds only those static models, so every session may share one.
    core.register_component("data_loader", _shared_loader(core))
    try:
        return boto3.session.Session(
            botocore_session=core, profile_name=profile, region_name=region
        )
    except BotoCoreError as error:  # e.g. ProfileNotFound
        raise MlopsError(f"AWS configuration: {error}") from None


_LOADER: list[Any] = []


def _shared_loader(core: botocore.session.Session) -> Any:
    if not _LOADER:
        _LOADER.append(core.get_component("data_loader"))
    return _LOADER[0]


def client(service: str, session: boto3.session.Session | None = None) -> Any:
    """A boto3 client for `service` with retries and timeouts; region must be known."""
    chosen = session or _new_session(None, None)
    try:
        return chosen.client(service, config=_CONFIG)
    except NoRegionError:
        raise MlopsError(
            "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION, or a profile "
            "with a region)"
        ) from None
    except BotoCoreError as error:
        raise MlopsError(f"AWS configuration for {service}: {error}") from None


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def describe_error(error: BaseException) -> str:
    """One line for any botocore error: the code and AWS's own message, no traceback."""
    if isinstance(error, ClientError):
        code = error_code(error) or "Error"
        message = str(error.response.get("Error", {}).get("Message", "")).strip()
        operation = getattr(error, "operation_name", "") or "request"
        text = f"{operation} failed with {code}"
        return f"{text}: {message}" if message else text
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials found (set AWS_PROFILE, or run where a role is available)"
    return " ".join(str(error).split())


@contextmanager
def aws_errors(action: str, exit_code: int = 2) -> Iterator[None]:
    """Turn botocore errors inside the block into one-line `MlopsError`s.

    `action` says what was being done, e.g. "signing with KMS key alias/x"; the message
    says whether access was denied so the reader knows to look at IAM or key policies.
    """
    try:
        yield
    except ClientError as error:
        hint = (
            " (check the IAM role and the key or bucket policy)" if is_access_denied(error) else ""
        )
        raise MlopsError(f"{action}: {describe_error(error)}{hint}", exit_code) from None
    except BotoCoreError as error:
        raise MlopsError(f"{action}: {describe_error(error)}", exit_code) from None


def is_access_denied(error: ClientError) -> bool:
    return error_code(error) in ACCESS_DENIED_CODES
