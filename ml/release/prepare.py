"""The release pull request's edit: `prepare_release`, what `mlops release` and the demo run.

A version is released by editing one line of `Pulumi.<stack>.yaml`. Before the edit, the
same checks everywhere: the model is declared by the stack, no endpoint of the stack is
still changing (`ml.release.lock`), and the version passes the registry check
(`ml.registry.check`: approved by another identity, gates passed, signature valid and
bound to this group and version, or to the trusted source of a promotion). The version
replaced stays as `previousVersion`, so an automatic rollback lands on something that
exists (docs/rollback.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import MlopsError
from infra.config import StackConfig
from ml.provenance.check import Verifier
from ml.registry.check import PackageCheck, TrustedSource, check_model_package
from ml.release.endpoints import group_name
from ml.release.lock import require_idle
from ml.release.stackfile import StackEdit, plan_edit


@dataclass(frozen=True)
class PreparedRelease:
    model: str
    current: int | None
    """The version the stack file serves before the edit."""
    check: PackageCheck | None
    """None when the stack file already declares the version (nothing to release)."""
    edit: StackEdit | None


def resolve_model(cfg: StackConfig, model: str) -> str:
    """`churn-classifier` from itself or from its group `mlops-<env>-churn-classifier`."""
    prefix = f"{cfg.name_prefix}-"
    name = model.removeprefix(prefix)
    if name not in cfg.models:
        if model.startswith("mlops-") and not model.startswith(prefix):
            raise MlopsError(
                f"model package group {model} does not belong to stack {cfg.environment} "
                f"(its groups are named {prefix}<model>)"
            )
        declared = ", ".join(sorted(cfg.models)) or "none"
        raise MlopsError(
            f"stack {cfg.environment} declares no model {name!r} under mlops:models "
            f"(declared: {declared}); adding a model is a platform change, not a release"
        )
    return name


def prepare_release(
    cfg: StackConfig,
    stack_path: Path,
    *,
    model: str,
    version: int,
    sagemaker: Any,
    s3: Any,
    verifier: Verifier,
    source: TrustedSource | None,
) -> PreparedRelease:
    """The checked edit that serves `version` of `model`; `MlopsError` (exit 1 for a failed
    check, 2 for a version or model that does not exist) when it may not be released."""
    name = resolve_model(cfg, model)
    current = cfg.models[name].version
    if current == version:
        return PreparedRelease(name, current, None, None)
    require_idle(sagemaker, cfg)
    check = check_model_package(
        sagemaker, s3, verifier, group=group_name(cfg, name), version=version, source=source
    )
    if not check.ok:
        raise MlopsError(
            f"cannot release to {cfg.environment}: {check.reason}",
            exit_code=2 if "package" in check.failed else 1,
        )
    edit = plan_edit(stack_path, {name: version}, keep_previous=True)
    return PreparedRelease(name, current, check, edit)
