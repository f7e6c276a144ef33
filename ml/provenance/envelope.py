"""DSSE envelopes and public keys: pure logic on top of securesystemslib and cryptography.

The envelope is securesystemslib's `dsse.Envelope` (DSSE v1: the signature covers
the pre-authentication encoding `PAE(payloadType, payload)`), written as the standard
JSON `{"payload", "payloadType", "signatures": [{"keyid", "sig"}]}`. A signature's
`keyid` is securesystemslib's default key id of the signing key's public key (SHA-256
of its canonical JSON form), so anyone holding the PEM can recompute it.
"""

from __future__ import annotations

import binascii
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.dsse import Envelope
from securesystemslib.signer import Signature, SSlibKey

from common.errors import MlopsError
from ml.provenance.statement import PAYLOAD_TYPE

# KMS key specs this project signs with, and how they map to securesystemslib and KMS.
KEY_SPECS: dict[str, tuple[type[ec.EllipticCurve], str, str, str]] = {
    # spec: (curve, securesystemslib scheme, KMS signing algorithm, hash)
    "ECC_NIST_P256": (ec.SECP256R1, "ecdsa-sha2-nistp256", "ECDSA_SHA_256", "sha256"),
    "ECC_NIST_P384": (ec.SECP384R1, "ecdsa-sha2-nistp384", "ECDSA_SHA_384", "sha384"),
}


class EnvelopeError(MlopsError):
    """The signature file cannot be read as a DSSE envelope."""


class KeyTypeError(MlopsError):
    """A key that is not an ECDSA signing key of a supported curve."""


def new_envelope(payload: bytes) -> Envelope:
    return Envelope(payload=payload, payload_type=PAYLOAD_TYPE, signatures={})


def envelope_to_json(envelope: Envelope) -> str:
    return json.dumps(envelope.to_dict(), indent=2, sort_keys=True) + "\n"


def write_envelope(envelope: Envelope, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(envelope_to_json(envelope), encoding="utf-8")


def load_envelope(path: Path) -> Envelope:
    """Read a DSSE envelope; `EnvelopeError` (one line) if missing or malformed."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise EnvelopeError(f"signature {path}: not found") from None
    except OSError as error:
        raise EnvelopeError(f"signature {path}: unreadable ({error.strerror})") from None
    return parse_envelope(raw, str(path))


def parse_envelope(raw: bytes, where: str = "signature") -> Envelope:
    try:
        data: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise EnvelopeError(f"{where}: not a JSON DSSE envelope") from None
    if not isinstance(data, dict):
        raise EnvelopeError(f"{where}: not a JSON DSSE envelope")
    missing = [key for key in ("payload", "payloadType", "signatures") if key not in data]
    if missing:
        raise EnvelopeError(f"{where}: DSSE envelope lacks {', '.join(missing)}")
    if not isinstance(data["signatures"], list) or not all(
        isinstance(entry, dict) and isinstance(entry.get("sig"), str)
        for entry in data["signatures"]
    ):
        raise EnvelopeError(f"{where}: DSSE signatures must be a list of {{keyid, sig}}")
    try:
        envelope = Envelope.from_dict(json.loads(json.dumps(data)))  # from_dict mutates
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise EnvelopeError(f"{where}: malformed DSSE envelope ({_first_line(error)})") from None
    if envelope.payload_type != PAYLOAD_TYPE:
        raise EnvelopeError(f"{where}: payloadType {envelope.payload_type!r} is not {PAYLOAD_TYPE}")
    if not envelope.signatures:
        raise EnvelopeError(f"{where}: DSSE envelope holds no signatures")
    return envelope


def signature_bytes(signature: Signature) -> bytes:
    return bytes.fromhex(signature.signature)


def public_key_from_der(der: bytes, where: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_der_public_key(der)
    except ValueError:
        raise KeyTypeError(f"{where}: not a DER SubjectPublicKeyInfo public key") from None
    return _require_supported(key, where)


def public_key_from_pem(pem: bytes, where: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise KeyTypeError(f"{where}: not a PEM public key (expected 'BEGIN PUBLIC KEY')") from None
    return _require_supported(key, where)


def public_key_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sslib_key(key: ec.EllipticCurvePublicKey) -> SSlibKey:
    """The securesystemslib key (scheme from the curve); its `keyid` names it in envelopes."""
    scheme = next(
        scheme for curve, scheme, *_ in KEY_SPECS.values() if isinstance(key.curve, curve)
    )
    return SSlibKey.from_crypto(key, scheme=scheme)


def spec_of(key: ec.EllipticCurvePublicKey) -> str:
    return next(spec for spec, (curve, *_) in KEY_SPECS.items() if isinstance(key.curve, curve))


def _require_supported(key: object, where: str) -> ec.EllipticCurvePublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey):
        kind = type(key).__name__.removeprefix("_").replace("PublicKey", "")
        raise KeyTypeError(
            f"{where}: wrong key type {kind}; model signatures use ECDSA ({' or '.join(KEY_SPECS)})"
        )
    if not any(isinstance(key.curve, curve) for curve, *_ in KEY_SPECS.values()):
        raise KeyTypeError(
            f"{where}: wrong curve {key.curve.name}; model signatures use {' or '.join(KEY_SPECS)}"
        )
    return key


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
