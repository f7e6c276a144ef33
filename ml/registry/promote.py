"""Promote an approved package of one stack into another stack's account: `mlops promote`.

Prod is its own AWS account with its own registry, bucket and keys; nothing is signed there.
Its promoting role (`gh-promote`) takes an approved staging package as it is:

1. reads the source package by ARN in the source account (the source group's policy lets
   it), and refuses unless it is `Approved` by an identity other than the one that
   registered or signed it, with its validation gates passed;
2. refuses unless the package was signed by a key the target trusts
   (`mlops:promotion.trustedSigningKeyArns`), then downloads the artifact and signature
   (the source bucket and data key policies let it read `models/<group>/` through S3) and
   verifies them with that key through KMS; the signed statement must be for this model,
   the source stack, group and version, and for the artifact the package records;
3. copies `model.tar.gz`, `signature.dsse.json` and the validation report under the
   target's `models/<group>/<digest>/`, SSE-KMS with the target's data key;
4. registers it `PendingManualApproval` in the target's group, with the source package ARN,
   account and digest in its metadata; the target's approver approves it as any package.

Idempotent: a target group already holding the artifact returns that package. Takes its
boto3 clients as arguments; prints nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from common.errors import MlopsError
from infra.contracts import MODEL_ARTIFACT_FILE, VALIDATION_REPORT_FILE
from ml.artifacts import S3Object, download_file, parse_s3_uri, upload_file
from ml.provenance.check import kms_verifier, verify_artifact
from ml.provenance.statement import binding_problem
from ml.registry.identity import caller_arn
from ml.registry.packages import (
    APPROVED,
    ModelPackage,
    PackageNotFound,
    PromotedFrom,
    Registration,
    describe_package,
    find_by_artifact,
    register_model_package,
    separation_problem,
)
from ml.registry.publish import store_signed_model

if TYPE_CHECKING:
    from infra.config import StackConfig

REFUSED = 1
"""Exit code of a refused promotion (the check ran and said no); bad input is 2."""


@dataclass(frozen=True)
class PromotionSource:
    """The source stack, as the target's stack file names it (`mlops:promotion`)."""

    stack: str
    account_id: str
    region: str
    partition: str
    group: str
    """The model's group in the source registry, `mlops-<source>-<model>`."""
    trusted_key_arns: tuple[str, ...]

    def package_arn(self, version: int) -> str:
        return (
            f"arn:{self.partition}:sagemaker:{self.region}:{self.account_id}:"
            f"model-package/{self.group}/{version}"
        )


def promotion_stacks(
    source: str, target: str, model: str, root: Path
) -> tuple[StackConfig, StackConfig]:
    """Both stacks' configs, once the pair is one the target's stack file allows
    (`mlops:promotion.fromStack`) and both declare `model`; else one line, exit 2."""
    from infra.config import load_stack

    if source == target:
        raise MlopsError(f"--from and --to are both {source}: promote from one stack into another")
    target_cfg = load_stack(target, root)
    promotion = target_cfg.promotion
    if promotion is None:
        raise MlopsError(
            f"stack {target} takes no promotions: add mlops:promotion (fromStack, "
            f"sourceAccountId, trustedSigningKeyArns) to Pulumi.{target}.yaml"
        )
    if promotion.from_stack != source:
        raise MlopsError(
            f"stack {target} promotes from {promotion.from_stack}, not {source} "
            f"(mlops:promotion.fromStack in Pulumi.{target}.yaml)"
        )
    source_cfg = load_stack(source, root)
    for cfg in (source_cfg, target_cfg):
        if model not in cfg.models:
            known = ", ".join(sorted(cfg.models)) or "none"
            raise MlopsError(f"stack {cfg.environment} serves no model {model!r} (it has: {known})")
    return source_cfg, target_cfg


def promotion_source(
    source_cfg: StackConfig,
    target_cfg: StackConfig,
    model: str,
    remap: Callable[[str], str] = lambda name: name,
) -> PromotionSource:
    """The source as the target's `mlops:promotion` names it; `remap` maps its account id
    and key ARNs where they are known by other names (the emulator's accounts)."""
    promotion = target_cfg.promotion
    assert promotion is not None, "checked by promotion_stacks"
    keys = tuple(remap(arn) for arn in promotion.trusted_signing_key_arns)
    return PromotionSource(
        stack=source_cfg.environment,
        account_id=remap(promotion.source_account_id),
        region=source_cfg.region,
        partition=keys[0].split(":")[1],
        group=source_cfg.model_group(model),
        trusted_key_arns=keys,
    )


@dataclass(frozen=True)
class PromotionTarget:
    """Where the package goes: the target stack's registry, bucket and data key."""

    stack: str
    group: str
    bucket: str
    kms_key_id: str
    owner: str
    image: str | None = None
    """Inference image for the target package; None: the source package's image."""


@dataclass(frozen=True)
class Promotion:
    source: ModelPackage
    package: ModelPackage
    artifact_digest: str
    created: bool


def promote(
    model: str,
    version: int,
    source: PromotionSource,
    target: PromotionTarget,
    *,
    kms: Any,
    s3: Any,
    sagemaker: Any,
    sts: Any,
) -> Promotion:
    """Verify the source package and register its copy in the target (see the module)."""
    arn = source.package_arn(version)
    where = f"{source.stack} package {source.group}/{version}"
    try:
        package = describe_package(sagemaker, arn)
    except PackageNotFound:
        raise MlopsError(
            f"cannot promote {where}: no such package in account {source.account_id} "
            f"(check --version; `mlops registry list --stack {source.stack}` lists them)"
        ) from None
    _refuse_unless_released(package, where)
    key = package.metadata.get("signing_key_arn", "")
    if key not in source.trusted_key_arns:
        raise MlopsError(
            f"refusing to promote {where}: signed by key {key or '(none recorded)'}, which "
            f"{target.stack} does not trust (mlops:promotion.trustedSigningKeyArns)",
            REFUSED,
        )
    with tempfile.TemporaryDirectory(prefix="mlops-promote-") as tmp:
        workdir = Path(tmp)
        artifact, envelope = _download(s3, package, workdir, where)
        result = verify_artifact(artifact, envelope, kms_verifier(kms, key))
        if not result.ok:
            code = 2 if result.bad_input else REFUSED
            raise MlopsError(f"refusing to promote {where}: {result.reason}", code)
        assert result.provenance is not None and result.artifact_digest is not None
        digest, provenance = result.artifact_digest, result.provenance
        problem = binding_problem(
            provenance, model=model, stack=source.stack, group=source.group, version=version
        ) or (
            None
            if package.artifact_digest == digest
            else f"the package records artifact {package.artifact_digest}, its model data is "
            f"{digest}"
        )
        if problem:
            raise MlopsError(f"refusing to promote {where}: {problem}", REFUSED)
        duty = separation_problem(package, provenance.signed_by)
        if duty:
            raise MlopsError(f"refusing to promote {where}: {duty}", REFUSED)

        existing = find_by_artifact(sagemaker, target.group, digest)
        if existing is not None:
            return Promotion(package, existing, digest, created=False)
        stored, prefix, data_key_arn = store_signed_model(
            s3, kms, target.group, target.bucket, target.kms_key_id, digest,
            artifact=artifact, envelope=envelope, workdir=workdir,
        )  # fmt: skip
        report_uri = _copy_report(s3, package, workdir, target.bucket, prefix, data_key_arn)
    try:
        registration = Registration(
            group=target.group,
            image_uri=target.image or package.image_uri or "",
            model_data_url=stored.model_data.uri,
            artifact_digest=digest,
            signature_s3_uri=stored.signature.uri,
            signing_key_arn=key,
            signing_keyid=result.keyid,
            provenance=provenance,
            owner=target.owner,
            training_minutes=_number(package, "training_minutes"),
            billable_minutes=_number(package, "billable_minutes"),
            spot_savings_percent=_number(package, "spot_savings_percent"),
            tracking_run_id=package.metadata.get("tracking_run_id"),
            tracking_uri=package.metadata.get("tracking_uri"),
            validation_gates="passed",
            validation_report_s3_uri=report_uri,
            registered_by=caller_arn(sts),
            promoted_from=PromotedFrom(
                package_arn=package.arn, account=source.account_id, artifact_digest=digest
            ),
        )
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise MlopsError(f"promotion of {where}: {field}: {first['msg']}") from None
    outcome = register_model_package(sagemaker, registration)
    return Promotion(package, outcome.package, digest, created=outcome.created)


def _refuse_unless_released(package: ModelPackage, where: str) -> None:
    """Only what the source released: approved (by a separate identity), gates passed."""
    if package.approval_status != APPROVED:
        raise MlopsError(
            f"refusing to promote {where}: its status is {package.approval_status}, not "
            f"{APPROVED}; approve it in its own stack first (`mlops approve`)",
            REFUSED,
        )
    if package.gates_passed is not True:
        raise MlopsError(f"refusing to promote {where}: its validation gates did not pass", REFUSED)


def _download(s3: Any, package: ModelPackage, workdir: Path, where: str) -> tuple[Path, Path]:
    if not package.model_data_url or not package.signature_s3_uri:
        raise MlopsError(
            f"refusing to promote {where}: it records no model data or signature", REFUSED
        )
    artifact = download_file(
        s3, parse_s3_uri(package.model_data_url), workdir / "source" / MODEL_ARTIFACT_FILE
    )
    envelope = download_file(
        s3, parse_s3_uri(package.signature_s3_uri), workdir / "source" / "signature.json"
    )
    return artifact, envelope


def _copy_report(
    s3: Any, package: ModelPackage, workdir: Path, bucket: str, prefix: str, key_arn: str
) -> str | None:
    uri = package.metadata.get("validation_report_s3_uri")
    if not uri:
        return None
    report = download_file(s3, parse_s3_uri(uri), workdir / "source" / VALIDATION_REPORT_FILE)
    copy = S3Object(bucket, f"{prefix}{VALIDATION_REPORT_FILE}")
    return upload_file(s3, report, copy, key_arn).uri


def _number(package: ModelPackage, key: str) -> float | None:
    value = package.metadata.get(key)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
