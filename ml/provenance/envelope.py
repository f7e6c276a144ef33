"""DSSE envelopes and public keys: pure logic on `cryptography` and the standard library.

The envelope is DSSE v1 (github.com/secure-systems-lab/dsse, envelope.md and
protocol.md): the signature covers the pre-authentication encoding
`PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, LEN in ASCII
decimal, written as the standard JSON `{"payload", "payloadType", "signatures":
[{"keyid", "sig"}]}` (payload and sig in base64). It is read, written and encoded here
rather than through securesystemslib's `dsse.Envelope`, whose import loads every signer
securesystemslib ships, the AWS KMS one and with it boto3: offline verification
(`mlops verify --public-key`) needs neither. It accepts what that class accepts (standard
or URL-safe base64, one signature per key id, extra signature fields kept).

A signature's `keyid` is securesystemslib's default key id of the signing key's public
key (SHA-256 of the canonical JSON of its keytype, scheme and PEM), so anyone holding
the PEM can recompute it (`key_id`). Signing takes any securesystemslib `Signer` (KMS in
production, a local key in tests): only its `sign(pae)` is used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from common.errors import MlopsError
from ml.provenance.statement import PAYLOAD_TYPE

if TYPE_CHECKING:
    from securesystemslib.signer import Signer, SSlibKey

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


@dataclass(frozen=True)
class Signature:
    """One DSSE signature: the signing key's id and the signature bytes as hex."""

    keyid: str
    signature: str
    unrecognized_fields: dict[str, Any] = field(default_factory=dict)
    """Fields other than keyid and sig, written back as found."""


@dataclass
class Envelope:
    """A DSSE envelope: the payload, its type and the signatures by key id."""

    payload: bytes
    payload_type: str
    signatures: dict[str, Signature]

    def pae(self) -> bytes:
        """The bytes a signature covers (DSSE v1 pre-authentication encoding)."""
        kind = self.payload_type.encode("utf-8")
        return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(self.payload), self.payload)

    def sign(self, signer: Signer) -> Signature:
        """Sign the PAE with a securesystemslib `Signer`; the signature replaces any of its key."""
        made = signer.sign(self.pae())
        signature = Signature(made.keyid, made.signature, dict(made.unrecognized_fields))
        self.signatures[signature.keyid] = signature
        return signature

    def to_dict(self) -> dict[str, Any]:
        return {
            "payload": _b64encode(self.payload),
            "payloadType": self.payload_type,
            "signatures": [
                {
                    "keyid": s.keyid,
                    "sig": _b64encode(bytes.fromhex(s.signature)),
                    **s.unrecognized_fields,
                }
                for s in self.signatures.values()
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Envelope:
        """From the JSON form; KeyError, TypeError or ValueError (binascii.Error) if malformed."""
        payload = _b64decode(data["payload"])
        signatures: dict[str, Signature] = {}
        for entry in data["signatures"]:
            fields = dict(entry)
            keyid, sig = fields.pop("keyid"), fields.pop("sig")
            if not isinstance(keyid, str):
                raise TypeError(f"keyid must be a string, found {type(keyid).__name__}")
            if keyid in signatures:
                raise ValueError(f"Multiple signatures found for keyid {keyid}")
            signatures[keyid] = Signature(keyid, _b64decode(sig).hex(), fields)
        return cls(payload, data["payloadType"], signatures)


def _b64encode(data: bytes) -> str:
    return base64.standard_b64encode(data).decode("utf-8")


def _b64decode(text: str) -> bytes:
    """Standard base64, else URL-safe (DSSE allows either)."""
    if not isinstance(text, str):
        raise TypeError(f"expected a base64 string, found {type(text).__name__}")
    data = text.encode("utf-8")
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        return base64.b64decode(data, altchars=b"-_", validate=True)


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
        envelope = Envelope.from_dict(data)
    except (ValueError, KeyError, TypeError) as error:  # binascii.Error is a ValueError
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


def key_id(key: ec.EllipticCurvePublicKey) -> str:
    """securesystemslib's default key id of `key` (what `SSlibKey.from_crypto` computes),
    without importing its signers: SHA-256 of the canonical JSON of keytype, scheme, PEM."""
    from securesystemslib.formats import encode_canonical  # pure; loads no signer

    keyval = {"public": public_key_pem(key).decode("ascii")}
    canonical = encode_canonical({"keytype": "ecdsa", "scheme": _scheme(key), "keyval": keyval})
    return hashlib.sha256(str(canonical).encode("utf-8")).hexdigest()


def sslib_key(key: ec.EllipticCurvePublicKey) -> SSlibKey:
    """The securesystemslib key (scheme from the curve), for a `Signer`'s `public_key`."""
    from securesystemslib.signer import SSlibKey

    return SSlibKey.from_crypto(key, scheme=_scheme(key))


def _scheme(key: ec.EllipticCurvePublicKey) -> str:
    return next(scheme for curve, scheme, *_ in KEY_SPECS.values() if isinstance(key.curve, curve))


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
