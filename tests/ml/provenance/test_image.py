"""`mlops image`: the serving image pushed by digest, its digest signed and verified.

KMS and ECR are moto's; the container engine is a fake runner that "pushes" by putting
the image manifest into ECR, as `docker push` does. Expected digests come from hashlib
over the manifest bytes (how a registry names a manifest), not from the code under test;
the fake push hands moto that digest, since moto 5.2.5 does not hash the manifest itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from common.errors import MlopsError
from ml.provenance.check import verify_artifact
from ml.provenance.image import ImageRelease, sign_image, verify_image
from ml.provenance.kms import KmsSigner, export_public_key_pem
from ml.registry.images import Repository, find_engine, push_image
from tests.conftest import Cli
from tests.ml.provenance_support import (  # noqa: F401 - fixtures
    ACCOUNT,
    COMMIT,
    REGION,
    Aws,
    aws_fixture,
    sign_directory,
    signing_key_fixture,
    write_artifact,
)

ALIAS = "alias/mlops-test-signing"
REPOSITORY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/mlops-prod-model-server"
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": 2,
            "digest": "sha256:" + "c" * 64,
        },
        "layers": [],
    }
)
DIGEST = "sha256:" + hashlib.sha256(MANIFEST.encode()).hexdigest()


def _sign(aws: Aws, tmp_path: Path, stack: str = "prod", digest: str = DIGEST) -> Path:
    out = tmp_path / f"image-{stack}.dsse.json"
    release = ImageRelease(REPOSITORY, digest, stack, COMMIT, "test", "arn:aws:iam::1:user/ci")
    sign_image(release, KmsSigner.for_key(aws.kms, ALIAS), out)
    return out


def test_image_sign_then_verify_through_kms_passes(
    aws: Aws, signing_key: str, tmp_path: Path, cli: Cli
) -> None:
    # Given a digest signed with `mlops image sign` for prod
    out = tmp_path / "image.dsse.json"
    code, _, err = cli(
        "image", "sign", "--digest", DIGEST, "--repository-url", REPOSITORY, "--stack", "prod",
        "--key-id", ALIAS, "--git-commit", COMMIT, "--out", out,
    )  # fmt: skip
    assert code == 0, err
    # When verified through KMS for prod
    code, out_text, err = cli(
        "image", "verify", "--digest", DIGEST, "--signature", out, "--stack", "prod", "--key-id",
        ALIAS,
    )  # fmt: skip
    # Then it passes and names the image, the stack and the commit
    assert code == 0, err
    assert f"verified: {REPOSITORY}@{DIGEST} released to stack prod from commit {COMMIT}" in (
        " ".join(out_text.split())
    ), out_text


def test_image_verify_of_another_digest_fails_in_one_line(
    aws: Aws, signing_key: str, tmp_path: Path, cli: Cli
) -> None:
    # Given prod's signature of one digest, when an attacker presents it for another image
    signature = _sign(aws, tmp_path)
    other = "sha256:" + "e" * 64
    code, _, err = cli(
        "image", "verify", "--digest", other, "--signature", signature, "--stack", "prod",
        "--key-id", ALIAS,
    )  # fmt: skip
    # Then verification fails with one line saying the signature is for another image
    assert code == 1, err
    assert err.strip().startswith(f"error: image {other}: statement: signed for another image"), err
    assert len(err.strip().splitlines()) == 1, err


def test_image_signed_for_staging_is_refused_for_prod(aws: Aws, signing_key: str, tmp_path: Path):
    # Given the digest signed for staging, when checked for prod (same key in this test)
    from ml.provenance.check import offline_verifier

    _, pem = export_public_key_pem(aws.kms, ALIAS)
    result = verify_image(_sign(aws, tmp_path, "staging"), DIGEST, offline_verifier(pem),
                          stack="prod")  # fmt: skip
    # Then it is refused: a signature releases an image to one stack only
    assert not result.ok and "released to stack 'staging', not 'prod'" in result.reason, result


def test_image_signature_verifies_offline_with_the_exported_public_key(
    aws: Aws, signing_key: str, tmp_path: Path
):
    from ml.provenance.check import offline_verifier

    _, pem = export_public_key_pem(aws.kms, ALIAS)
    result = verify_image(_sign(aws, tmp_path), DIGEST, offline_verifier(pem),
                          stack="prod", repository=REPOSITORY)  # fmt: skip
    assert result.ok, result.reason


def test_tampered_image_statement_fails_verification(aws: Aws, signing_key: str, tmp_path: Path):
    # Given a signed envelope, when its payload is rewritten to name another digest
    import base64

    from ml.provenance.check import offline_verifier

    path = _sign(aws, tmp_path)
    envelope = json.loads(path.read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["subject"][0]["digest"]["sha256"] = "e" * 64
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_text(json.dumps(envelope))
    _, pem = export_public_key_pem(aws.kms, ALIAS)
    # Then the signature no longer verifies
    result = verify_image(path, "sha256:" + "e" * 64, offline_verifier(pem))
    assert not result.ok and result.reason.startswith("signature: does not verify"), result


def test_model_signature_is_not_an_image_signature_nor_the_reverse(
    aws: Aws, signing_key: str, tmp_path: Path
):
    # Given a model signed with the same key, and an image signed with it
    from ml.provenance.check import offline_verifier

    artifact = write_artifact(tmp_path / "model")
    model_envelope = sign_directory(aws.kms, ALIAS, artifact)
    _, pem = export_public_key_pem(aws.kms, ALIAS)
    verifier = offline_verifier(pem)
    # Then the model's envelope does not release any image,
    as_image = verify_image(model_envelope, DIGEST, verifier)
    assert not as_image.ok and "is not an image release" in as_image.reason, as_image
    # and the image's envelope does not verify as a model artifact's signature
    as_model = verify_artifact(artifact, _sign(aws, tmp_path), verifier)
    assert not as_model.ok and as_model.reason.startswith("statement: predicateType"), as_model


# ---- push: the digest comes from ECR -----------------------------------------------------


class FakeEngine:
    """Records engine commands; `push` puts MANIFEST into ECR under the pushed tag."""

    def __init__(self, ecr) -> None:
        self.ecr, self.calls, self.stdin = ecr, [], []

    def __call__(self, args: Sequence[str], stdin: str | None) -> str:
        self.calls.append(list(args))
        self.stdin.append(stdin)
        if args[1] == "push":
            name, tag = args[2].split("/", 1)[1].rsplit(":", 1)
            self.ecr.put_image(repositoryName=name, imageManifest=MANIFEST, imageTag=tag,
                               imageDigest=DIGEST)  # fmt: skip
        return ""


@pytest.fixture
def ecr(aws: Aws):
    import boto3

    client = boto3.client("ecr", region_name=REGION)
    client.create_repository(repositoryName="mlops-prod-model-server",
                             imageTagMutability="IMMUTABLE")  # fmt: skip
    return client


def test_push_image_returns_the_digest_ecr_stored(ecr) -> None:
    # Given a local image and the stack's repository
    engine = FakeEngine(ecr)
    tag = f"git-{COMMIT}"
    # When pushed
    pushed = push_image(ecr, local="mlops-model-server:x", repository=Repository.parse(REPOSITORY),
                        tag=tag, engine="docker", runner=engine)  # fmt: skip
    # Then the reference is the repository at the manifest's sha256, tagged git-<commit>
    assert pushed.reference == f"{REPOSITORY}@{DIGEST}", pushed
    assert engine.calls[-2:] == [
        ["docker", "tag", "mlops-model-server:x", f"{REPOSITORY}:{tag}"],
        ["docker", "push", f"{REPOSITORY}:{tag}"],
    ], engine.calls
    # and the registry password went to the engine on stdin, never on its command line
    login = engine.calls[0]
    assert login[:2] == ["docker", "login"] and "--password-stdin" in login, login
    assert engine.stdin[0] and engine.stdin[0] not in " ".join(login), "password on argv"


def test_push_image_rerun_for_the_same_commit_reuses_the_pushed_digest(ecr) -> None:
    # Given the commit's tag already pushed (an immutable tag cannot be pushed twice)
    tag = f"git-{COMMIT}"
    ecr.put_image(repositoryName="mlops-prod-model-server", imageManifest=MANIFEST, imageTag=tag,
                  imageDigest=DIGEST)  # fmt: skip
    engine = FakeEngine(ecr)
    # When pushed again, then nothing is pushed and the existing digest is returned
    pushed = push_image(ecr, local="x", repository=Repository.parse(REPOSITORY), tag=tag,
                        engine="docker", runner=engine)  # fmt: skip
    assert pushed.already_there and pushed.digest == DIGEST, pushed
    assert engine.calls == [], engine.calls


def test_push_cli_without_a_full_commit_is_one_line(cli: Cli) -> None:
    code, _, err = cli(
        "image", "push", "--image", "x", "--repository-url", REPOSITORY, "--commit", "abc123"
    )  # fmt: skip
    assert code != 0 and err.strip() == (
        "error: --commit 'abc123': expected a full 40-hex commit id"
    ), err


def test_repository_url_with_a_tag_is_refused() -> None:
    with pytest.raises(MlopsError, match=r"expected <account>\.dkr\.ecr\."):
        Repository.parse(REPOSITORY + ":latest")


def test_find_engine_without_docker_or_podman_says_what_to_install() -> None:
    with pytest.raises(MlopsError) as caught:
        find_engine(which=lambda name: None)
    assert str(caught.value) == "no container engine: install docker or podman (or pass --engine)"
