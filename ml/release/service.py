"""The release's use cases: what `mlops release verify|watch|revert` and the demo run.

Each function makes every check its command makes and fails the same way, so a caller
cannot skip one: a `CheckFailed` (exit 1, or 2 for a version the registry lacks) that
carries the result, or an `MlopsError` for bad input, each one line. The CLI parses
options, calls one of these and prints the result; the demo calls the same functions as
the identities that run them on AWS. The release edit itself is `ml.release.prepare`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import CheckFailed, MlopsError
from infra.config import StackConfig
from infra.contracts import Env, signing_key_alias
from ml.provenance.check import Verifier, kms_verifier, trusted_verifier
from ml.registry.check import TrustedSource
from ml.release import lock
from ml.release.endpoints import EndpointState
from ml.release.prepare import resolve_model
from ml.release.revert import RevertProposal, default_branch, format_targets
from ml.release.stackfile import plan_edit
from ml.release.verify import StackVerification, markdown, verify_stack
from ml.release.watch import StackWatch, watch_stack

KmsClient = Callable[[], Any]
"""Makes the KMS client a verifier uses, only when KMS is needed."""


def stack_session(cfg: StackConfig) -> Any:
    """boto3 session: AWS_PROFILE / AWS_REGION as usual, else the stack's own region."""
    from ml import aws

    configured = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return aws.session(region=configured or cfg.region)


def stack_verifier(
    cfg: StackConfig, kms: KmsClient, key_id: str | None = None, public_key: Path | None = None
) -> Verifier:
    """The stack's trusted signing key: the exported `public_key` (offline), else KMS
    with `key_id`, by default the stack's own signing key alias."""
    return trusted_verifier(public_key, key_id or signing_key_alias(cfg.name_prefix), kms)


def trusted_source(
    cfg: StackConfig, kms: KmsClient, remap: Callable[[str], str] = lambda name: name
) -> TrustedSource | None:
    """The stack's promotion source (`mlops:promotion`): promoted packages verify with the
    source's trusted signing keys, through KMS in the source account. `remap` maps the
    account id and key ARNs where they are known by other names (the emulator's accounts)."""
    promotion = cfg.promotion
    if promotion is None:
        return None
    return TrustedSource(
        stack=promotion.from_stack,
        account_id=remap(promotion.source_account_id),
        key_arns=tuple(remap(arn) for arn in promotion.trusted_signing_key_arns),
        verifier_for=lambda arn: kms_verifier(kms(), arn),
    )


def verify_release(
    cfg: StackConfig,
    *,
    sagemaker: Any,
    s3: Any,
    verifier: Verifier | None,
    source: TrustedSource | None = None,
    registry_only: bool = False,
    artifact_bucket: str | None = None,
    require_idle: bool = False,
    report: Path | None = None,
) -> StackVerification:
    """Every model version the stack declares may serve (`ml.release.verify`), written as
    the pull-request comment to `report` when given; `CheckFailed` (its `result` the
    `StackVerification`) when one may not, exit 2 when a declared version does not exist.
    `require_idle`: also refuse while an endpoint of the stack is still changing."""
    if registry_only and not artifact_bucket:
        raise MlopsError(
            f"--registry-only needs --artifact-bucket (or {Env.ARTIFACT_BUCKET}): the stack's "
            "artifact bucket, to check the model data is a released one"
        )
    if not registry_only and verifier is None:
        raise MlopsError("a full verify needs the trusted signing key (a verifier)")
    if require_idle:
        lock.require_idle(sagemaker, cfg)
    result = verify_stack(
        cfg,
        sagemaker=sagemaker,
        s3=s3,
        verifier=verifier,
        registry_only=registry_only,
        artifact_bucket=artifact_bucket,
        source=source,
    )
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(markdown(result), encoding="utf-8")
    if not result.ok:
        raise CheckFailed(result.summary(), result, exit_code=2 if result.missing_packages else 1)
    return result


@dataclass(frozen=True)
class WatchResult:
    """How the stack's endpoints ended after `pulumi up`, and the revert on a rollback."""

    watch: StackWatch
    revert: RevertProposal | None = None
    """The edit (and PR) that makes git say what serves again; None unless rolled back."""

    @property
    def outcome(self) -> str:
        return self.watch.outcome

    @property
    def revert_targets(self) -> dict[str, int]:
        return self.watch.revert_targets()


def watch_release(
    cfg: StackConfig,
    stack_path: Path,
    *,
    sagemaker: Any,
    timeout_seconds: float | None = None,
    poll_seconds: float = 30.0,
    on_status: Callable[[str, EndpointState], None] = lambda model, state: None,
    endpoints: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WatchResult:
    """Follow the stack's endpoints until they settle (`ml.release.watch`); the result on
    promote, else `CheckFailed` whose `result` is the `WatchResult` (with the revert
    proposal when SageMaker rolled back)."""
    watch = watch_stack(
        sagemaker,
        cfg,
        timeout_seconds=timeout_seconds,
        poll_seconds=poll_seconds,
        on_status=on_status,
        endpoints=endpoints,
        clock=clock,
        sleep=sleep,
    )
    stack = cfg.environment
    if watch.outcome == "promote":
        return WatchResult(watch)
    details = "; ".join(e.describe() for e in watch.endpoints if e.outcome != "promote")
    targets = watch.revert_targets()
    if watch.outcome == "rollback" and targets:
        result = WatchResult(watch, propose_revert(cfg, stack_path, targets))
        raise CheckFailed(
            f"stack {stack}: rollback: {details}; open the revert PR with `mlops release revert "
            f"--stack {stack} --to {format_targets(targets)} --open-pr`",
            result,
        )
    raise CheckFailed(f"stack {stack}: {watch.outcome}: {details}", WatchResult(watch))


def propose_revert(
    cfg: StackConfig,
    stack_path: Path,
    targets: Mapping[str, int],
    *,
    base: str = "main",
    branch: str | None = None,
) -> RevertProposal:
    """The revert pull request that sets the stack file back to the versions that serve:
    every model must be the stack's, the edit only `version:` lines (it drops
    `previousVersion`). `proposal.edit.changed` is False when the file already says so."""
    for model in targets:
        resolve_model(cfg, model)
    edit = plan_edit(stack_path, dict(targets))
    return RevertProposal(
        stack=cfg.environment,
        edit=edit,
        branch=branch or default_branch(cfg.environment, dict(targets)),
        base=base,
        repo=os.environ.get("GITHUB_REPOSITORY") or f"{cfg.github.org}/{cfg.github.repo}",
    )
