"""Signing with KMS and verifying through KMS and offline, against moto's KMS."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from moto import settings as moto_settings

from common.errors import MlopsError
from ml.provenance.check import (
    CHECK_ARTIFACT,
    CHECK_ENVELOPE,
    CHECK_FILE_ADDED,
    CHECK_FILE_CHANGED,
    CHECK_FILE_REMOVED,
    CHECK_FILE_RENAMED,
    CHECK_SIGNATURE,
    kms_verifier,
    offline_verifier,
    verify_artifact,
)
from ml.provenance.envelope import KeyTypeError
from ml.provenance.kms import RAW_MESSAGE_LIMIT, KmsSigner, export_public_key_pem
from ml.provenance.sign import sign_artifact
from tests.ml.provenance_support import (  # noqa: F401 - fixtures
    REGION,
    Aws,
    aws_fixture,
    create_signing_key,
    provenance,
    sign_directory,
    signing_key_fixture,
    tar_artifact,
    write_artifact,
)


@pytest.fixture
def signed(aws: Aws, signing_key: str, tmp_path: Path) -> Path:
    """An artifact directory signed through KMS, signature at the reserved name inside."""
    artifact = write_artifact(tmp_path / "model")
    sign_directory(aws.kms, "alias/mlops-test-signing", artifact)
    return artifact


@pytest.fixture(params=["kms", "offline"])
def verifier(request: pytest.FixtureRequest, aws: Aws, signing_key: str) -> Any:
    """The KMS Verify path and the auditor's offline path, for every case."""
    if request.param == "kms":
        return kms_verifier(aws.kms, signing_key)
    _, pem = export_public_key_pem(aws.kms, signing_key)
    return offline_verifier(pem)


def verify(artifact: Path, verifier: Any) -> Any:
    return verify_artifact(artifact, artifact / "signature.dsse.json", verifier)


def test_verify_untouched_artifact_passes(signed: Path, verifier: Any) -> None:
    # given a freshly signed artifact, when verified
    result = verify(signed, verifier)
    # then it passes and exposes the signed provenance
    assert result.ok, result.reason
    assert result.provenance is not None, "no provenance on a verified result"
    assert result.provenance.training_data_hash == provenance().training_data_hash, "wrong hash"


def test_verify_changed_byte_fails_naming_the_file(signed: Path, verifier: Any) -> None:
    # given one byte of model.txt changed after signing
    model = signed / "model.txt"
    data = bytearray(model.read_bytes())
    data[10] ^= 0x01
    model.write_bytes(bytes(data))
    # when verified
    result = verify(signed, verifier)
    # then the file check fails and names model.txt, on one line
    assert not result.ok, "a changed byte passed verification"
    assert result.check == CHECK_FILE_CHANGED, result.check
    assert result.reason.startswith("file model.txt: content changed"), result.reason
    assert "\n" not in result.reason, "reason is not one line"


def test_verify_added_file_fails_naming_the_file(signed: Path, verifier: Any) -> None:
    # given a file added after signing
    (signed / "extra" / "backdoor.py").write_text("import os\n")
    # when verified, then it fails naming the added file
    result = verify(signed, verifier)
    assert result.check == CHECK_FILE_ADDED, result.reason
    assert result.reason == "file extra/backdoor.py: present but not signed", result.reason


def test_verify_removed_file_fails_naming_the_file(signed: Path, verifier: Any) -> None:
    # given a signed file deleted
    (signed / "model.json").unlink()
    # when verified, then it fails naming the missing file
    result = verify(signed, verifier)
    assert result.check == CHECK_FILE_REMOVED, result.reason
    assert result.reason == "file model.json: signed but missing", result.reason


def test_verify_renamed_file_fails_naming_both_paths(signed: Path, verifier: Any) -> None:
    # given a signed file renamed, content unchanged
    (signed / "model.txt").rename(signed / "weights.txt")
    # when verified, then it fails as a rename, naming the old and the new path
    result = verify(signed, verifier)
    assert result.check == CHECK_FILE_RENAMED, result.reason
    assert result.reason.startswith("file model.txt: renamed to weights.txt"), result.reason


def test_verify_signature_by_another_key_fails(aws: Aws, signed: Path, verifier: Any) -> None:
    # given the artifact re-signed with a different KMS key
    other = create_signing_key(aws.kms, alias="alias/someone-else")
    sign_directory(aws.kms, other, signed)
    # when verified against the trusted key, then the signature check names the other key
    result = verify(signed, verifier)
    assert result.check == CHECK_SIGNATURE, result.reason
    assert "made by another key" in result.reason, result.reason


def test_verify_edited_predicate_fails_the_signature(signed: Path, verifier: Any) -> None:
    # given the statement's training data hash edited inside the envelope, signature kept
    path = signed / "signature.dsse.json"
    envelope = json.loads(path.read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    params = statement["predicate"]["buildDefinition"]["externalParameters"]
    params["trainingDataHash"] = "sha256:" + "00" * 32
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(envelope))
    # when verified, then the signature check fails: the statement was altered
    result = verify(signed, verifier)
    assert result.check == CHECK_SIGNATURE, result.reason
    assert "altered after signing" in result.reason, result.reason


def test_verify_tarball_with_signature_made_on_the_directory(signed: Path, verifier: Any) -> None:
    # given the signed directory packed as SageMaker's model.tar.gz (signature inside)
    tarball = tar_artifact(signed, signed.parent / "model.tar.gz")
    # when the tarball is verified with the signature made on the directory
    result = verify_artifact(tarball, signed / "signature.dsse.json", verifier)
    # then it passes: directories and tarballs share one manifest
    assert result.ok, result.reason


def test_sign_large_statement_uses_digest_and_verifies_offline(
    aws: Aws, signing_key: str, tmp_path: Path
) -> None:
    # given an artifact with enough files that the DSSE PAE exceeds KMS's RAW limit
    artifact = write_artifact(tmp_path / "model", extra_files=60)
    sent: list[dict[str, Any]] = []
    aws.kms.meta.events.register(
        "provide-client-params.kms.Sign", lambda params, **_: sent.append(params)
    )
    # when signed through the emulator's KMS
    signed = sign_artifact(artifact, provenance(), KmsSigner.for_key(aws.kms, signing_key))
    envelope = artifact / "signature.dsse.json"
    envelope.write_text(json.dumps(signed.envelope.to_dict()))
    # then KMS got a 32-byte SHA-256 digest with MessageType=DIGEST, as real KMS needs
    assert signed.pae_size > RAW_MESSAGE_LIMIT, f"PAE only {signed.pae_size} bytes"
    assert sent[-1]["MessageType"] == "DIGEST", sent[-1]["MessageType"]
    assert len(sent[-1]["Message"]) == 32, "DIGEST message is not a SHA-256 digest"
    # and the offline verifier, with the public key alone, accepts the signature
    _, pem = export_public_key_pem(aws.kms, signing_key)
    result = verify_artifact(artifact, envelope, offline_verifier(pem))
    assert result.ok, result.reason


def test_sign_small_statement_sends_the_pae_raw(aws: Aws, signing_key: str, tmp_path: Path) -> None:
    # given a small artifact
    artifact = write_artifact(tmp_path / "model")
    sent: list[dict[str, Any]] = []
    aws.kms.meta.events.register(
        "provide-client-params.kms.Sign", lambda params, **_: sent.append(params)
    )
    # when signed
    signed = sign_artifact(artifact, provenance(), KmsSigner.for_key(aws.kms, signing_key))
    # then KMS received the PAE bytes themselves with MessageType=RAW
    assert sent[-1]["MessageType"] == "RAW", sent[-1]["MessageType"]
    assert sent[-1]["Message"] == signed.envelope.pae(), "RAW message is not the PAE"


def test_verify_missing_artifact_is_bad_input(signed: Path, verifier: Any, tmp_path: Path) -> None:
    # given a signature but no artifact at the given path
    result = verify_artifact(tmp_path / "gone", signed / "signature.dsse.json", verifier)
    # then the artifact check fails as bad input
    assert result.check == CHECK_ARTIFACT and result.bad_input, result.reason
    assert result.reason.endswith("gone: not found"), result.reason


def test_verify_unreadable_signature_is_bad_input(signed: Path, verifier: Any) -> None:
    # given a signature file that is not a DSSE envelope
    (signed / "signature.dsse.json").write_text("not json at all")
    # when verified, then the envelope check fails as bad input, on one line
    result = verify(signed, verifier)
    assert result.check == CHECK_ENVELOPE and result.bad_input, result.reason
    assert "not a JSON DSSE envelope" in result.reason, result.reason


def test_sign_with_symmetric_key_is_wrong_key_type(aws: Aws, tmp_path: Path) -> None:
    # given the data CMK (symmetric) instead of the signing key
    data_key = aws.kms.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
    # when used to sign, then the error says the key type is wrong
    with pytest.raises(
        KeyTypeError, match=r"wrong key type \(SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT\)"
    ):
        KmsSigner.for_key(aws.kms, data_key)


def test_offline_verifier_refuses_rsa_public_key() -> None:
    # given an RSA public key PEM
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    # when used as the trusted key, then the error says the key type is wrong
    with pytest.raises(KeyTypeError, match=r"wrong key type RSA"):
        offline_verifier(pem)


def test_sign_without_kms_sign_permission_is_one_line_access_denied(
    aws: Aws, signing_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a principal that may read the key but not sign with it, and IAM enforced
    aws.iam.create_user(UserName="auditor")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["kms:DescribeKey", "kms:GetPublicKey"], "Resource": "*"}
        ],
    }
    aws.iam.put_user_policy(
        UserName="auditor", PolicyName="read", PolicyDocument=json.dumps(policy)
    )
    keys = aws.iam.create_access_key(UserName="auditor")["AccessKey"]
    kms = boto3.client(
        "kms",
        region_name=REGION,
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
    )
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    signer = KmsSigner.for_key(kms, signing_key)
    # when it signs
    with pytest.raises(MlopsError) as raised:
        sign_artifact(write_artifact(tmp_path / "model"), provenance(), signer)
    # then the error is one line naming the denial and where to look
    message = str(raised.value)
    assert "AccessDeniedException" in message and "kms:Sign" in message, message
    assert "\n" not in message, "error is not one line"


def test_verify_copied_artifact_elsewhere_still_passes(
    signed: Path, verifier: Any, tmp_path: Path
) -> None:
    # given the signed artifact copied to another place (paths are relative)
    copy = Path(shutil.copytree(signed, tmp_path / "elsewhere" / "model"))
    # when verified there, then it passes
    assert verify(copy, verifier).ok, "verification depends on the artifact's location"
