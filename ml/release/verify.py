"""May this stack serve what its file declares? The provenance check for every model.

For every model the stack gives a version, `ml.registry.check.check_model_package`
(owned by the provenance part, called here, never re-implemented) checks that the
package exists in the stack's registry, is Approved by an identity other than the one
that registered or signed it, passed its validation gates, and that its artifact
verifies against its signature with the stack's signing key and was signed for this
group and version. `registry_only` checks the registry's record alone (approval,
separation of duties, gates, model data under the artifact bucket's `models/`), for a
role that may not read model weights.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from infra.config import StackConfig
from infra.contracts import MODELS_PREFIX
from ml.provenance.check import Verifier
from ml.registry.check import PackageCheck, TrustedSource, check_model_package
from ml.registry.packages import describe_package
from ml.release.endpoints import group_name
from ml.release.stackfile import served_versions


@dataclass(frozen=True)
class StackVerification:
    stack: str
    checks: tuple[PackageCheck, ...]
    unreleased: tuple[str, ...]
    """Models declared without a version: a registry group, nothing served yet."""
    verifier: str
    registry_only: bool = False

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> tuple[PackageCheck, ...]:
        return tuple(check for check in self.checks if not check.ok)

    @property
    def missing_packages(self) -> bool:
        """A declared version the registry does not have: a mistake in the stack file."""
        return any("package" in check.failed for check in self.checks)

    def summary(self) -> str:
        """One line for the terminal and the error message."""
        if self.ok and self.registry_only:
            return (
                f"stack {self.stack}: {len(self.checks)} model(s) verified in the registry: "
                f"approved by a separate identity, gates passed, model data under {MODELS_PREFIX} "
                "(artifact and signature not checked)"
            )
        if self.ok:
            return (
                f"stack {self.stack}: {len(self.checks)} model(s) verified: registered, "
                "approved by a separate identity, gates passed, signature valid and for "
                "this version"
            )
        reasons = "; ".join(check.reason for check in self.failures)
        return f"stack {self.stack}: {len(self.failures)} of {len(self.checks)} failed: {reasons}"


def verify_stack(
    cfg: StackConfig,
    *,
    sagemaker: Any,
    s3: Any,
    verifier: Verifier | None,
    registry_only: bool = False,
    artifact_bucket: str | None = None,
    source: TrustedSource | None = None,
) -> StackVerification:
    """`source`: the stack's promotion source, for the packages `mlops promote` put here."""
    checks = tuple(
        _with_image_check(
            cfg,
            sagemaker,
            check_model_package(
                sagemaker,
                s3,
                verifier,
                group=group_name(cfg, model),
                version=version,
                registry_only=registry_only,
                artifact_bucket=artifact_bucket,
                source=source,
            ),
        )
        for model, version in _referenced_versions(cfg)
    )
    unreleased = tuple(name for name, ref in cfg.models.items() if ref.version is None)
    described = "registry only" if verifier is None else verifier.description
    return StackVerification(cfg.environment, checks, unreleased, described, registry_only)


def _referenced_versions(cfg: StackConfig) -> list[tuple[str, int]]:
    """Every (model, version) the stack file makes a SageMaker Model of: the served version
    and the one kept for a rollback (`previousVersion`), which must pass the same checks."""
    kept = cfg.retained_models
    return [
        pair
        for model, version in served_versions(cfg).items()
        for pair in [(model, version), *([(model, kept[model])] if model in kept else [])]
    ]


def image_problem(digest: str | None, package_image: str | None) -> str | None:
    """Why a package's image is not the stack file's `mlops:image.digest` (None: it is, or
    the stack names its image by tag). SageMaker serves the image the package records, so
    the stack file says what runs only if the two agree."""
    if digest is None or (package_image or "").endswith(f"@{digest}"):
        return None
    return (
        f"image: the package runs {package_image or 'no image'}, not mlops:image.digest "
        f"{digest}; register with <repositoryUrl>@{digest}, or set the digest the package has"
    )


def _with_image_check(cfg: StackConfig, sagemaker: Any, check: PackageCheck) -> PackageCheck:
    """`check`, failed as well when the package's image is not the stack's digest."""
    if check.package_arn is None or cfg.image.digest is None:
        return check
    problem = image_problem(
        cfg.image.digest, describe_package(sagemaker, check.package_arn).image_uri
    )
    if problem is None:
        return check
    return replace(
        check,
        ok=False,
        reason=check.reason if not check.ok else problem,
        failed=(*check.failed, "image"),
        problems=(*check.problems, problem),
    )


def markdown(result: StackVerification) -> str:
    """The pull-request comment: one row per model, the verdict first."""
    verdict = "passed" if result.ok else "FAILED"
    icon = ":white_check_mark:" if result.ok else ":x:"
    checked = (
        "(registry only: the artifact and its signature are not checked here)"
        if result.registry_only
        else f"and verify against its signature, signed for that version ({result.verifier})"
    )
    lines = [
        f"### {icon} Provenance of `{result.stack}`: {verdict}",
        "",
        f"Every model version `Pulumi.{result.stack}.yaml` declares must be registered, "
        f"approved by an identity that neither registered nor signed it, have passed its "
        f"validation gates {checked}.",
        "",
        "| model package | approval | gates | signature | verdict |",
        "|---|---|---|---|---|",
    ]
    for check in result.checks:
        gates = {True: "passed", False: "failed", None: "unknown"}[check.gates_passed]
        signature = _cell(_signature_cell(check))
        verdict_cell = "ok" if check.ok else _cell(check.reason)
        lines.append(
            f"| `{check.group}` v{check.version} | {check.approval_status or 'missing'} | "
            f"{gates} | {signature} | {verdict_cell} |"
        )
    if not result.checks:
        lines.append("| (no model version declared) | | | | |")
    if result.unreleased:
        names = ", ".join(f"`{name}`" for name in result.unreleased)
        lines += ["", f"Declared without a version (nothing served yet): {names}."]
    return "\n".join(lines) + "\n"


def _signature_cell(check: PackageCheck) -> str:
    problems = [
        p for p in check.problems if p.startswith(("signature", "artifact-digest", "binding"))
    ]
    if problems:
        return problems[0]
    if check.signature is not None and check.signature.ok:
        return "valid"
    if check.signature is not None:
        return check.signature.reason
    return "not checked"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
