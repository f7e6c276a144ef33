"""`verify_signed_artifact`, the verify `mlops verify` and the demo both run, called directly:
each attack on a signed artifact fails as the project's error type, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import CheckFailed, MlopsError
from ml.provenance.check import CHECK_FILE_CHANGED, CHECK_SIGNATURE, VerificationResult
from ml.provenance.kms import export_public_key_pem
from ml.provenance.service import verify_signed_artifact
from tests.ml.provenance_support import (  # noqa: F401 - fixtures
    Aws,
    aws_fixture,
    create_signing_key,
    sign_directory,
    signing_key_fixture,
    write_artifact,
)


@pytest.fixture
def signed(aws: Aws, signing_key: str, tmp_path: Path) -> tuple[Path, Path]:
    """(an artifact signed through KMS, its signing key's public PEM)."""
    artifact = write_artifact(tmp_path / "model")
    sign_directory(aws.kms, signing_key, artifact)
    pem = tmp_path / "signing.pem"
    pem.write_bytes(export_public_key_pem(aws.kms, signing_key)[1])
    return artifact, pem


def test_verify_signed_artifact_offline_returns_what_was_signed(signed) -> None:
    artifact, pem = signed
    result = verify_signed_artifact(artifact, public_key=pem)
    assert result.ok and result.provenance is not None, result.reason
    assert result.provenance.model_package_group == "mlops-staging-churn-classifier", result


def test_a_byte_changed_after_signing_fails_naming_the_file(signed) -> None:
    # Given an attacker appends one byte to the model after it was signed,
    artifact, pem = signed
    with (artifact / "model.txt").open("ab") as model:
        model.write(b"\n")
    # when the artifact is verified, then it fails (exit 1) in one line naming the file.
    with pytest.raises(CheckFailed) as failed:
        verify_signed_artifact(artifact, public_key=pem)
    assert failed.value.exit_code == 1, failed.value.exit_code
    line = str(failed.value)
    assert "\n" not in line and line.startswith("file model.txt: content changed"), line
    assert isinstance(failed.value.result, VerificationResult), failed.value.result
    assert failed.value.result.check == CHECK_FILE_CHANGED, failed.value.result


def test_a_signature_by_another_key_is_not_trusted(aws: Aws, signed, tmp_path: Path) -> None:
    # Given the attacker re-signs the artifact with a key of their own,
    artifact, pem = signed
    other = create_signing_key(aws.kms, "alias/attacker")
    sign_directory(aws.kms, other, artifact)
    # when it is verified with the trusted public key, then the signature is refused (exit 1).
    with pytest.raises(CheckFailed) as failed:
        verify_signed_artifact(artifact, public_key=pem)
    assert failed.value.exit_code == 1, failed.value.exit_code
    assert failed.value.result.check == CHECK_SIGNATURE, failed.value.result
    assert str(failed.value).startswith("signature: made by another key"), failed.value


def test_no_trusted_key_is_bad_input(signed) -> None:
    artifact, _ = signed
    with pytest.raises(MlopsError) as refused:
        verify_signed_artifact(artifact)
    assert refused.value.exit_code == 2 and not isinstance(refused.value, CheckFailed)
    assert str(refused.value).startswith("no trusted key: pass --public-key PEM"), refused.value
