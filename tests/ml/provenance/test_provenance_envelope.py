"""The DSSE envelope read and checked without securesystemslib's signers (hence no boto3).

The oracles are the DSSE specification's own example and securesystemslib, the reference
implementation the project signed with before: the same key ids, the same PAE, envelopes
each side writes accepted by the other, and the attacks a verifier must refuse.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.dsse import Envelope as ReferenceEnvelope
from securesystemslib.signer import CryptoSigner, SSlibKey

from ml.provenance.check import offline_verifier, signed_by
from ml.provenance.envelope import (
    Envelope,
    EnvelopeError,
    key_id,
    new_envelope,
    parse_envelope,
    public_key_pem,
    sslib_key,
    write_envelope,
)
from ml.provenance.sign import sign_artifact
from ml.provenance.statement import PAYLOAD_TYPE
from tests.conftest import fresh_python
from tests.ml.provenance_support import provenance, write_artifact


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def signer_of(key: ec.EllipticCurvePrivateKey) -> CryptoSigner:
    return CryptoSigner(key, sslib_key(key.public_key()))


def signed_json(key: ec.EllipticCurvePrivateKey, payload: bytes = b'{"a": 1}') -> dict:
    envelope = new_envelope(payload)
    envelope.sign(signer_of(key))
    return envelope.to_dict()


@pytest.mark.parametrize("curve", [ec.SECP256R1, ec.SECP384R1])
def test_key_id_is_securesystemslib_default_key_id(curve: type[ec.EllipticCurve]) -> None:
    # Given a public key of each curve the project signs with
    public = ec.generate_private_key(curve()).public_key()
    # Then its key id is the one securesystemslib computes (what signatures name)
    assert key_id(public) == SSlibKey.from_crypto(public).keyid


def test_pae_is_the_dsse_specification_example() -> None:
    # Given the DSSE protocol's worked example (protocol.md, "Test vectors")
    envelope = Envelope(b"hello world", "http://example.com/HelloWorld", {})
    # Then the signed bytes are its PAE, byte for byte
    assert envelope.pae() == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_envelope_signed_by_securesystemslib_verifies(key: ec.EllipticCurvePrivateKey) -> None:
    # Given an envelope made and signed by securesystemslib's own DSSE class
    reference = ReferenceEnvelope(b'{"a": 1}', PAYLOAD_TYPE, {})
    reference.sign(signer_of(key))
    # When it is read here
    envelope = parse_envelope(json.dumps(reference.to_dict()).encode())
    # Then the same PAE is checked and the signature verifies with the public key alone
    assert envelope.pae() == reference.pae(), "PAE differs from securesystemslib's"
    assert signed_by(envelope, offline_verifier(public_key_pem(key.public_key())))


def test_envelope_written_here_verifies_with_securesystemslib(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    # Given an envelope signed and written by the project's code
    written = signed_json(key)
    # Then securesystemslib reads it and accepts the signature (threshold 1)
    reference = ReferenceEnvelope.from_dict(json.loads(json.dumps(written)))
    accepted = reference.verify([sslib_key(key.public_key())], 1)
    assert list(accepted) == [key_id(key.public_key())], accepted


def test_url_safe_base64_is_accepted_as_securesystemslib_does(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    # Given a valid envelope whose signature is written in URL-safe base64 (DSSE allows it)
    data = signed_json(key, b'{"subject": ["~~~???>>>"]}')
    data["signatures"][0]["sig"] = data["signatures"][0]["sig"].replace("+", "-").replace("/", "_")
    # Then it still verifies
    envelope = parse_envelope(json.dumps(data).encode())
    assert signed_by(envelope, offline_verifier(public_key_pem(key.public_key())))


def test_changed_payload_byte_fails_the_signature(key: ec.EllipticCurvePrivateKey) -> None:
    # Given a signed envelope whose payload an attacker changes by one byte
    envelope = parse_envelope(json.dumps(signed_json(key)).encode())
    envelope.payload = envelope.payload.replace(b"1", b"2")
    # Then the signature no longer verifies
    assert not signed_by(envelope, offline_verifier(public_key_pem(key.public_key())))


def test_signature_by_another_key_does_not_verify(key: ec.EllipticCurvePrivateKey) -> None:
    # Given an envelope an attacker signs with their own key, relabelled with the trusted key id
    attacker = ec.generate_private_key(ec.SECP256R1())
    data = signed_json(attacker)
    data["signatures"][0]["keyid"] = key_id(key.public_key())
    envelope = parse_envelope(json.dumps(data).encode())
    # Then the trusted key does not verify it
    assert not signed_by(envelope, offline_verifier(public_key_pem(key.public_key())))


def test_payload_signed_as_another_type_does_not_verify(key: ec.EllipticCurvePrivateKey) -> None:
    # Given a payload signed under another payload type, relabelled as an in-toto statement
    other = Envelope(b'{"a": 1}', "application/octet-stream", {})
    other.sign(signer_of(key))
    data = other.to_dict() | {"payloadType": PAYLOAD_TYPE}
    envelope = parse_envelope(json.dumps(data).encode())
    # Then the signature fails: the type is part of the signed bytes (PAE)
    assert not signed_by(envelope, offline_verifier(public_key_pem(key.public_key())))


def test_envelope_of_another_payload_type_is_refused(key: ec.EllipticCurvePrivateKey) -> None:
    # Given a signed envelope whose payloadType is changed
    data = signed_json(key) | {"payloadType": "application/json"}
    # Then it is refused as an envelope, naming the type
    with pytest.raises(EnvelopeError, match="payloadType 'application/json' is not"):
        parse_envelope(json.dumps(data).encode())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"payload": 7}, "malformed DSSE envelope"),
        ({"payload": "not base64!"}, "malformed DSSE envelope"),
        ({"signatures": []}, "holds no signatures"),
        ({"signatures": [{"keyid": 7, "sig": "AAAA"}]}, "keyid must be a string"),
    ],
)
def test_malformed_envelope_is_one_line_error(
    key: ec.EllipticCurvePrivateKey, change: dict, message: str
) -> None:
    # Given a signed envelope with one field broken
    data = signed_json(key) | change
    # Then reading it is an EnvelopeError of one line, not a traceback
    with pytest.raises(EnvelopeError, match=message) as error:
        parse_envelope(json.dumps(data).encode())
    assert "\n" not in str(error.value)


def test_duplicate_key_id_is_refused(key: ec.EllipticCurvePrivateKey) -> None:
    # Given two signatures under one key id (securesystemslib refuses them too)
    data = signed_json(key)
    data["signatures"] *= 2
    # Then the envelope is refused
    with pytest.raises(EnvelopeError, match="Multiple signatures found for keyid"):
        parse_envelope(json.dumps(data).encode())


def test_offline_verify_imports_no_boto3_nor_securesystemslib_signers(
    key: ec.EllipticCurvePrivateKey, tmp_path: Path, repo_root: Path
) -> None:
    # Given an artifact signed with a local key and its exported public key
    artifact = write_artifact(tmp_path / "model")
    signed = sign_artifact(artifact, provenance(), signer_of(key))
    write_envelope(signed.envelope, artifact / "signature.dsse.json")
    pem = tmp_path / "key.pem"
    pem.write_bytes(public_key_pem(key.public_key()))
    # When `mlops verify --public-key` runs in a fresh interpreter
    code = (
        "import json, sys\n"
        "from ml.cli import main\n"
        "try:\n"
        f"    main(['verify', '--artifact', {str(artifact)!r}, '--public-key', {str(pem)!r}])\n"
        "except SystemExit as done:\n"
        "    code = done.code\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')\n"
        "          or m.startswith('securesystemslib.signer')]\n"
        "print(json.dumps({'code': code, 'loaded': sorted(loaded)}))\n"
    )
    done = fresh_python(code, repo_root)
    report = json.loads(done.stdout.splitlines()[-1])
    # Then it verified, and neither boto3 nor any securesystemslib signer was imported
    assert report["code"] in (0, None), done.stdout + done.stderr
    assert "verified: 3 file(s)" in done.stdout, done.stdout
    assert report["loaded"] == [], f"offline verification imported {report['loaded']}"
