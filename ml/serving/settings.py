"""Server settings: one strict, frozen model validated once at the edge.

Sources, highest first: `mlops serve` options, then the environment SageMaker, the
Kubernetes Deployment or the Dockerfile set, then the defaults below.

| setting            | environment                                          | default          |
|--------------------|------------------------------------------------------|------------------|
| model_dir          | `SM_MODEL_DIR`                                       | `/opt/ml/model`  |
| port               | `SAGEMAKER_BIND_TO_PORT`                             | 8080             |
| workers            | `SAGEMAKER_MODEL_SERVER_WORKERS`, `MLOPS_SERVE_WORKERS` | usable CPUs   |
| public_key         | `MLOPS_SIGNING_PUBLIC_KEY` (path to a PEM)           | none             |
| public_key_pem     | `MLOPS_SIGNING_PUBLIC_KEY_PEM` (the PEM itself)      | none             |
| key_id             | `MLOPS_SIGNING_KEY_ID` (KMS key id, ARN or alias)    | none             |
| require_signature  | `MLOPS_REQUIRE_SIGNATURE`                            | true             |
| max_body_bytes     | `MLOPS_MAX_BODY_BYTES`                               | 6 MiB (SageMaker) |
| access_log         | `MLOPS_ACCESS_LOG` (`all`, `errors`, `off`)          | all              |
| model_name         | `MLOPS_MODEL_NAME`: the model this server must serve | none             |
| stack              | `MLOPS_STACK`: the stack (environment) it serves in  | none             |
| model_version      | `MLOPS_MODEL_VERSION`: the package version to serve  | none             |

The three identity settings are what the deployment says should serve; a verified
statement signed for another model, stack or version is refused (`ml.serving.model`).
Infra sets them on the SageMaker Model and the Kubernetes Deployment.

Inside SageMaker the server refuses to start unless it enforces signatures (a key set,
`MLOPS_REQUIRE_SIGNATURE` not false) and knows its model, stack and version, whatever
the other settings say (`require_enforcement`). "Inside SageMaker" means one of
`SAGEMAKER_HOSTING_VARIABLES` is present (even empty): SageMaker AI provides
`SAGEMAKER_BIND_TO_PORT` and `SAGEMAKER_SAFE_PORT_RANGE` to the containers it hosts
(documented for inference pipelines in the Developer Guide, "Run Real-time Predictions
with an Inference Pipeline"; AWS's serving images read them on single-container endpoints
too), and a Model's `Environment` can only set variables, so it can empty one but not
remove it (docs/provenance.md).

`MLOPS_SIGNING_PUBLIC_KEY_PEM` is how the SageMaker Model passes the key: an endpoint
with network isolation can reach neither KMS nor a mounted file, so the public key
travels in the container's environment (it is public) and verification is offline.

The settings travel to uvicorn's worker processes as JSON in `MLOPS_SERVE_SETTINGS`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.errors import MlopsError
from common.validation import one_line
from infra.contracts import PROMOTED_FROM_ENV, Env

SETTINGS_ENV = "MLOPS_SERVE_SETTINGS"
DEFAULT_MODEL_DIR = Path("/opt/ml/model")
DEFAULT_PORT = 8080
SAGEMAKER_MAX_PAYLOAD = 6 * 1024 * 1024
"""InvokeEndpoint accepts at most 6 MB; the server refuses larger bodies with 413."""
SAGEMAKER_HOSTING_VARIABLES = ("SAGEMAKER_BIND_TO_PORT", "SAGEMAKER_SAFE_PORT_RANGE")
"""Set by SageMaker AI in its hosting containers; their presence means "inside SageMaker"."""
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def usable_cpus() -> int:
    """CPUs this process may run on (the affinity mask, which container CPU sets narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class ServeSettings(BaseModel):
    """Everything the inference server needs; invalid values fail before it starts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_dir: Path = DEFAULT_MODEL_DIR
    """Directory SageMaker extracted `model.tar.gz` into (`model.txt`, `model.json`, ...)."""
    host: str = "0.0.0.0"  # noqa: S104 - a container listens on all its interfaces
    port: Annotated[int, Field(ge=0, le=65535)] = DEFAULT_PORT
    fd: Annotated[int, Field(ge=0)] | None = None
    """An inherited, already listening socket to serve on instead of host:port."""
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    require_signature: bool = True
    public_key: Path | None = None
    """PEM public key of the signing key, for offline verification (no AWS calls)."""
    public_key_pem: Annotated[str, Field(min_length=1, max_length=16384)] | None = None
    """The same PEM public key, inline (SageMaker passes it in the environment)."""
    key_id: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    """KMS signing key id, ARN or alias: verification through KMS Verify."""
    max_body_bytes: Annotated[int, Field(ge=1024, le=100 * 1024 * 1024)] = SAGEMAKER_MAX_PAYLOAD
    access_log: Literal["all", "errors", "off"] = "all"
    model_name: Annotated[str, Field(min_length=1, max_length=63)] | None = None
    """The model this server must serve (`MLOPS_MODEL_NAME`)."""
    stack: Annotated[str, Field(min_length=1, max_length=63)] | None = None
    """The stack it serves in (`MLOPS_STACK`)."""
    model_version: Annotated[int, Field(ge=1)] | None = None
    """The model package version it must serve (`MLOPS_MODEL_VERSION`)."""
    promoted_from: Annotated[str, Field(min_length=1, max_length=63)] | None = None
    """The stack this one takes promoted models from (`MLOPS_PROMOTED_FROM`): a statement
    signed there for this model is served too (its version is the source's, checked against
    the registry by `mlops release verify`)."""
    keep_alive_seconds: Annotated[int, Field(ge=1, le=3600)] = 75
    """Idle keep-alive; above the 60 s idle timeout of SageMaker's and most load balancers'
    connection pools, so the server is never the side that drops a pooled connection."""

    @model_validator(mode="after")
    def _one_key(self) -> ServeSettings:
        given = [self.public_key, self.public_key_pem, self.key_id]
        if sum(value is not None for value in given) > 1:
            raise ValueError(
                f"set one verification key: a public key ({Env.SIGNING_PUBLIC_KEY} or "
                f"{Env.SIGNING_PUBLIC_KEY_PEM}) or a KMS key id ({Env.SIGNING_KEY_ID}), not both"
            )
        return self

    @property
    def has_key(self) -> bool:
        return any(
            value is not None for value in (self.public_key, self.public_key_pem, self.key_id)
        )

    def to_env(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        return cls.model_validate_json(text)


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise MlopsError(f"{name}={raw!r}: expected true or false")


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise MlopsError(f"{name}={raw!r}: expected an integer") from None


def settings_from_env(env: Mapping[str, str], **overrides: object) -> ServeSettings:
    """Settings from SageMaker's / the container's environment, then explicit overrides.

    `overrides` with the value None are ignored, so CLI options left unset fall through
    to the environment. Raises `MlopsError` with one line naming the bad setting.
    """
    values: dict[str, object] = {"workers": usable_cpus()}
    if env.get("SM_MODEL_DIR"):
        values["model_dir"] = env["SM_MODEL_DIR"]
    if env.get("SAGEMAKER_BIND_TO_PORT"):
        values["port"] = _int("SAGEMAKER_BIND_TO_PORT", env["SAGEMAKER_BIND_TO_PORT"])
    for name in (Env.SERVE_WORKERS, "SAGEMAKER_MODEL_SERVER_WORKERS"):
        if env.get(name):
            values["workers"] = _int(name, env[name])
    if env.get(Env.SIGNING_PUBLIC_KEY):
        values["public_key"] = env[Env.SIGNING_PUBLIC_KEY]
    if env.get(Env.SIGNING_PUBLIC_KEY_PEM):
        values["public_key_pem"] = env[Env.SIGNING_PUBLIC_KEY_PEM]
    if env.get(Env.SIGNING_KEY_ID):
        values["key_id"] = env[Env.SIGNING_KEY_ID]
    for name, key in (
        (Env.MODEL_NAME, "model_name"),
        (Env.STACK, "stack"),
        (PROMOTED_FROM_ENV, "promoted_from"),
    ):
        if env.get(name):
            values[key] = env[name]
    if env.get(Env.MODEL_VERSION):
        values["model_version"] = _int(Env.MODEL_VERSION, env[Env.MODEL_VERSION])
    if env.get(Env.REQUIRE_SIGNATURE):
        values["require_signature"] = _flag(Env.REQUIRE_SIGNATURE, env[Env.REQUIRE_SIGNATURE])
    if env.get(Env.MAX_BODY_BYTES):
        values["max_body_bytes"] = _int(Env.MAX_BODY_BYTES, env[Env.MAX_BODY_BYTES])
    if env.get(Env.ACCESS_LOG):
        values["access_log"] = env[Env.ACCESS_LOG].strip().lower()
    given = {key: value for key, value in overrides.items() if value is not None}
    if given.keys() & {"public_key", "key_id"}:  # an explicit key replaces the environment's
        for key in ("public_key", "public_key_pem", "key_id"):
            values.pop(key, None)
    values.update(given)
    try:
        settings = ServeSettings.model_validate(values)
    except ValidationError as error:
        raise MlopsError(
            one_line(error, lambda where: f"serve setting {'.'.join(where) or 'settings'}")
        ) from None
    return require_enforcement(settings, env)


def server_settings(env: Mapping[str, str]) -> ServeSettings:
    """A server process's settings: `MLOPS_SERVE_SETTINGS` (JSON) if set, else the
    environment, held to `require_enforcement` either way."""
    raw = env.get(SETTINGS_ENV)
    if not raw:
        return settings_from_env(env)
    try:
        settings = ServeSettings.from_json(raw)
    except ValidationError:
        raise MlopsError(f"{SETTINGS_ENV}: not valid server settings") from None
    return require_enforcement(settings, env)


def on_sagemaker(env: Mapping[str, str]) -> bool:
    return any(name in env for name in SAGEMAKER_HOSTING_VARIABLES)


def require_enforcement(settings: ServeSettings, env: Mapping[str, str]) -> ServeSettings:
    """`settings`, unless this is SageMaker and they would serve an unverified model or
    one the deployment did not name: then a one-line `MlopsError` (refuse to start)."""
    if not on_sagemaker(env):
        return settings
    if not settings.require_signature or not settings.has_key:
        raise MlopsError(
            "refusing to start inside SageMaker without signature enforcement: set "
            f"{Env.SIGNING_PUBLIC_KEY_PEM} (or another key) and leave {Env.REQUIRE_SIGNATURE} "
            "true; unsigned serving is for local development only"
        )
    unnamed = [
        name
        for name, value in (
            (Env.MODEL_NAME, settings.model_name),
            (Env.STACK, settings.stack),
            (Env.MODEL_VERSION, settings.model_version),
        )
        if value is None
    ]
    if unnamed:
        raise MlopsError(
            f"refusing to start inside SageMaker without {', '.join(unnamed)}: the server must "
            "know which model, stack and version it may serve"
        )
    return settings
