"""The model registry: SageMaker model packages with provenance metadata."""

from ml.registry.packages import (
    APPROVED,
    PENDING,
    REJECTED,
    ModelPackage,
    PackageNotFound,
    Registration,
    RegistrationOutcome,
    approve,
    find_by_artifact,
    find_package,
    register_model_package,
    reject,
)

__all__ = [
    "APPROVED",
    "PENDING",
    "REJECTED",
    "ModelPackage",
    "PackageNotFound",
    "Registration",
    "RegistrationOutcome",
    "approve",
    "find_by_artifact",
    "find_package",
    "register_model_package",
    "reject",
]
