"""`mlops sign`, `mlops verify` and `mlops keys export-public` as a user runs them."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from ml.provenance.archive import pack_artifact
from tests.conftest import Cli
from tests.ml.provenance_support import (  # noqa: F401 - fixtures
    COMMIT,
    Aws,
    aws_fixture,
    signing_key_fixture,
    write_artifact,
)

ALIAS = "alias/mlops-test-signing"
REPO_ROOT = Path(__file__).resolve().parents[3]
BOUND = ["--stack", "staging", "--model", "churn-classifier", "--version", "1",
         "--root", str(REPO_ROOT)]  # fmt: skip
"""What every signature is for: one model, stack and package version."""


@pytest.fixture
def signed_cli(aws: Aws, signing_key: str, tmp_path: Path, cli: Cli) -> Path:
    """An artifact signed with `mlops sign`, signature inside at the reserved name."""
    artifact = write_artifact(tmp_path / "model")
    argv = ["sign", "--artifact", str(artifact), "--key-id", ALIAS, "--out",
            str(artifact / "signature.dsse.json"), "--git-commit", COMMIT, *BOUND]  # fmt: skip
    code, _, err = cli(*argv)
    assert code == 0, f"mlops sign failed: {err}"
    return artifact


def test_sign_then_verify_through_kms_passes(signed_cli: Path, cli: Cli) -> None:
    # given an artifact signed with `mlops sign`, when verified through KMS
    code, out, err = cli("verify", "--artifact", signed_cli, "--key-id", ALIAS)
    # then it passes and says what it verified
    assert code == 0, err
    assert "verified: 3 file(s) match" in out and COMMIT in out, out


def test_sign_records_model_stack_version_and_signer(signed_cli: Path, cli: Cli) -> None:
    # given an artifact signed with `mlops sign --stack staging --version 1`
    # when verified, then the statement names what it is for and who signed (moto's caller)
    code, out, err = cli("verify", "--artifact", signed_cli, "--key-id", ALIAS)
    assert code == 0, err
    expected = (
        "for model churn-classifier in stack staging (mlops-staging-churn-classifier "
        "version 1), signed by arn:aws:sts::123456789012:user/moto"
    )
    assert expected in " ".join(out.split()), out


def test_sign_without_stack_exits_2_with_one_line(
    aws: Aws, signing_key: str, tmp_path: Path, cli: Cli
) -> None:
    # given a sign command that does not say which stack the model is for
    artifact = write_artifact(tmp_path / "model")
    argv = ["sign", "--artifact", str(artifact), "--key-id", ALIAS,
            "--out", str(tmp_path / "sig.json"), "--git-commit", COMMIT]  # fmt: skip
    # when run, then it refuses before signing anything, on one line
    code, _, err = cli(*argv)
    assert code == 2 and "pass --stack" in err and err.count("\n") == 1, err
    assert not (tmp_path / "sig.json").exists(), "nothing may be signed without a stack"


def test_sign_without_version_asks_the_registry_for_the_next(
    aws: Aws, signing_key: str, tmp_path: Path, cli: Cli
) -> None:
    # given the staging group already holds versions 1 and 2
    group = "mlops-staging-churn-classifier"
    aws.sagemaker.create_model_package_group(ModelPackageGroupName=group)
    for _ in range(2):
        aws.sagemaker.create_model_package(
            ModelPackageGroupName=group,
            InferenceSpecification={
                "Containers": [{"Image": "img:1"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )
    artifact = write_artifact(tmp_path / "model")
    argv = ["sign", "--artifact", str(artifact), "--key-id", ALIAS, "--out",
            str(tmp_path / "sig.json"), "--git-commit", COMMIT, "--stack", "staging",
            "--root", str(REPO_ROOT)]  # fmt: skip
    # when signed without --version, then the statement is for version 3
    code, out, err = cli(*argv)
    assert code == 0, err
    assert f"for {group} version 3" in out, out


def test_export_public_key_then_verify_offline_without_aws(
    signed_cli: Path,
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given the public key exported once with `mlops keys export-public`
    pem = tmp_path / "signing.pem"
    code, _, err = cli("keys", "export-public", "--key-id", ALIAS, "--out", pem)
    assert code == 0 and pem.read_text().startswith("-----BEGIN PUBLIC KEY-----"), err
    # and an auditor with no AWS credentials, where any AWS client would fail
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)

    def no_aws(*args: object, **kwargs: object) -> None:
        raise AssertionError("offline verification created an AWS client")

    monkeypatch.setattr(boto3.session.Session, "client", no_aws)
    # when verifying offline
    argv = ["verify", "--artifact", str(signed_cli), "--public-key", str(pem)]
    code, out, err = cli(*argv)
    # then it passes with the public key alone
    assert code == 0, err
    assert "verified" in out, out


def test_verify_tampered_artifact_exits_1_with_one_line(signed_cli: Path, cli: Cli) -> None:
    # given a byte appended to model.json after signing
    with (signed_cli / "model.json").open("ab") as handle:
        handle.write(b" ")
    # when verified
    code, _, err = cli("verify", "--artifact", signed_cli, "--key-id", ALIAS)
    # then the check failed (exit 1) with one line naming the file and the check
    assert code == 1, f"exit {code}"
    assert err.startswith("error: file model.json: content changed"), err
    assert err.count("\n") == 1, f"not one line: {err!r}"


def test_verify_missing_artifact_exits_2(
    aws: Aws, signing_key: str, tmp_path: Path, cli: Cli
) -> None:
    # given no artifact at the path, when verified
    argv = ["verify", "--artifact", str(tmp_path / "absent.tar.gz"),
            "--signature", str(tmp_path / "sig.json"), "--key-id", ALIAS]  # fmt: skip
    code, _, err = cli(*argv)
    # then it is bad input, named on one line
    assert code == 2, f"exit {code}"
    assert (
        err.strip()
        == f"mlops verify: --artifact {tmp_path / 'absent.tar.gz'}: no such file or directory"
    ), err


def test_verify_unreadable_signature_exits_2(signed_cli: Path, cli: Cli) -> None:
    # given a signature file that is binary junk
    (signed_cli / "signature.dsse.json").write_bytes(b"\x00\xff\x10")
    # when verified, then it is bad input, one line
    code, _, err = cli("verify", "--artifact", signed_cli, "--key-id", ALIAS)
    assert code == 2, f"exit {code}"
    assert "not a JSON DSSE envelope" in err and err.count("\n") == 1, err


def test_verify_without_a_trusted_key_exits_2(
    signed_cli: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given neither --key-id nor --public-key (nor their environment variables)
    monkeypatch.delenv("MLOPS_SIGNING_KEY_ID", raising=False)
    monkeypatch.delenv("MLOPS_SIGNING_PUBLIC_KEY", raising=False)
    # when verified, then it asks for a trusted key
    code, _, err = cli("verify", "--artifact", signed_cli)
    assert code == 2 and "no trusted key" in err, err


def test_sign_with_data_key_exits_2_wrong_key_type(aws: Aws, tmp_path: Path, cli: Cli) -> None:
    # given a symmetric data key
    data_key = aws.kms.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
    artifact = write_artifact(tmp_path / "model")
    # when used with `mlops sign`
    argv = ["sign", "--artifact", str(artifact), "--key-id", data_key,
            "--out", str(tmp_path / "sig.json"), "--git-commit", COMMIT, *BOUND]  # fmt: skip
    code, _, err = cli(*argv)
    # then it fails as bad input saying the key type is wrong
    assert code == 2 and "wrong key type" in err, err


def test_sign_unknown_key_exits_2_with_kms_error(aws: Aws, tmp_path: Path, cli: Cli) -> None:
    # given an alias that does not exist, when signing
    artifact = write_artifact(tmp_path / "model")
    argv = ["sign", "--artifact", str(artifact), "--key-id", "alias/nope",
            "--out", str(tmp_path / "sig.json"), "--git-commit", COMMIT, *BOUND]  # fmt: skip
    code, _, err = cli(*argv)
    # then KMS's NotFoundException is reported on one line
    assert code == 2 and "alias/nope" in err and "NotFoundException" in err, err
    assert err.count("\n") == 1, err


def test_sign_out_inside_artifact_under_other_name_exits_2(
    aws: Aws, signing_key: str, tmp_path: Path, cli: Cli
) -> None:
    # given --out pointing inside the artifact under a non-reserved name
    artifact = write_artifact(tmp_path / "model")
    argv = ["sign", "--artifact", str(artifact), "--key-id", ALIAS,
            "--out", str(artifact / "sig.json"), "--git-commit", COMMIT, *BOUND]  # fmt: skip
    # when signing, then it refuses: that file would make the artifact fail verification
    code, _, err = cli(*argv)
    assert code == 2 and "would become an unsigned file" in err, err


def test_verify_deployed_tarball_offline_uses_the_signature_inside(
    signed_cli: Path, tmp_path: Path, cli: Cli
) -> None:
    # given the model.tar.gz SageMaker deploys (signature inside) and the exported key
    tarball = pack_artifact(signed_cli, None, tmp_path / "deployed" / "model.tar.gz")
    pem = tmp_path / "signing.pem"
    code, _, err = cli("keys", "export-public", "--key-id", ALIAS, "--out", pem)
    assert code == 0, err
    # when an auditor verifies the tarball alone with the public key
    code, out, err = cli("verify", "--artifact", tarball, "--public-key", pem)
    # then the signature inside is found and verifies
    assert code == 0, err
    assert "verified: 3 file(s) match" in out, out
