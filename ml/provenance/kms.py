"""KMS adapter: sign and verify DSSE PAE bytes with an asymmetric KMS key.

Takes a boto3 KMS client; does exactly what real AWS KMS expects:

- DSSE signs `PAE(payloadType, payload)`. KMS `Sign`/`Verify` accept a RAW message of
  at most 4,096 bytes; beyond that the caller hashes the message itself and sends the
  digest with `MessageType=DIGEST` (KMS then signs that digest without hashing again).
  `ECDSA_SHA_256` over RAW bytes and over `DIGEST(SHA-256(bytes))` give signatures the
  same public key verifies against the same bytes, so offline verification needs no
  knowledge of which mode was used.
- KMS returns DER-encoded ECDSA signatures; the public key comes from `GetPublicKey` as
  DER SubjectPublicKeyInfo.

Emulator gaps (moto hashing a DIGEST again, Verify answering `SignatureValid: false`
instead of raising) are fixed in `ml.emulator.patches`, never here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.signer import Key, SecretsHandler, Signature, Signer, SSlibKey

from common.errors import MlopsError
from ml.aws import aws_errors, describe_error, error_code
from ml.provenance.envelope import (
    KEY_SPECS,
    KeyTypeError,
    key_id,
    public_key_from_der,
    public_key_pem,
    sslib_key,
)

RAW_MESSAGE_LIMIT = 4096
"""Largest message KMS Sign/Verify accept with MessageType=RAW."""


def kms_message(data: bytes, hash_name: str) -> tuple[bytes, str]:
    """(Message, MessageType) for KMS: RAW up to 4,096 bytes, else DIGEST of the bytes."""
    if len(data) <= RAW_MESSAGE_LIMIT:
        return data, "RAW"
    return hashlib.new(hash_name, data).digest(), "DIGEST"


@dataclass(frozen=True)
class KmsKey:
    """An asymmetric KMS signing key as its describe and public-key calls report it."""

    arn: str
    spec: str
    algorithm: str
    hash_name: str
    public_key: ec.EllipticCurvePublicKey

    @property
    def sslib_key(self) -> SSlibKey:
        return sslib_key(self.public_key)

    @property
    def keyid(self) -> str:
        return key_id(self.public_key)


def resolve_signing_key(kms: Any, key_id: str) -> KmsKey:
    """Describe a key (id, ARN, alias or alias ARN) and fetch its public key.

    Raises `MlopsError` (one line) when the key is missing, access is denied, or the key
    is not an enabled `SIGN_VERIFY` key of a supported ECC spec.
    """
    with aws_errors(f"KMS key {key_id}"):
        metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    arn = metadata["Arn"]
    usage = metadata.get("KeyUsage")
    spec = metadata.get("KeySpec") or metadata.get("CustomerMasterKeySpec")
    if usage != "SIGN_VERIFY" or spec not in KEY_SPECS:
        raise KeyTypeError(
            f"KMS key {key_id}: wrong key type ({spec}, {usage or 'no key usage'}); model "
            "signing needs a "
            f"SIGN_VERIFY key of spec {' or '.join(KEY_SPECS)}"
        )
    if metadata.get("KeyState", "Enabled") != "Enabled":
        raise MlopsError(f"KMS key {key_id}: key state is {metadata['KeyState']}, not Enabled")
    with aws_errors(f"KMS key {key_id}: GetPublicKey"):
        der = kms.get_public_key(KeyId=arn)["PublicKey"]
    public_key = public_key_from_der(der, f"KMS key {key_id}")
    _, _, algorithm, hash_name = KEY_SPECS[spec]
    return KmsKey(arn, spec, algorithm, hash_name, public_key)


def export_public_key_pem(kms: Any, key_id: str) -> tuple[KmsKey, bytes]:
    """The key and its public half as PEM, for offline verification."""
    key = resolve_signing_key(kms, key_id)
    return key, public_key_pem(key.public_key)


class KmsSigner(Signer):
    """A securesystemslib `Signer` whose private key never leaves KMS."""

    def __init__(self, kms: Any, key: KmsKey):
        self._kms = kms
        self._key = key

    @classmethod
    def for_key(cls, kms: Any, key_id: str) -> KmsSigner:
        return cls(kms, resolve_signing_key(kms, key_id))

    @classmethod
    def from_priv_key_uri(
        cls, priv_key_uri: str, public_key: Key, secrets_handler: SecretsHandler | None = None
    ) -> KmsSigner:  # pragma: no cover - required by the interface, not used
        raise NotImplementedError("construct KmsSigner with a boto3 client: KmsSigner.for_key")

    @property
    def public_key(self) -> SSlibKey:
        return self._key.sslib_key

    @property
    def key(self) -> KmsKey:
        return self._key

    def sign(self, payload: bytes) -> Signature:
        message, message_type = kms_message(payload, self._key.hash_name)
        with aws_errors(f"signing with KMS key {self._key.arn}"):
            response = self._kms.sign(
                KeyId=self._key.arn,
                Message=message,
                MessageType=message_type,
                SigningAlgorithm=self._key.algorithm,
            )
        return Signature(self.public_key.keyid, response["Signature"].hex())


class KmsVerifier:
    """Verifies DSSE signatures through the KMS Verify API (the default path)."""

    def __init__(self, kms: Any, key: KmsKey):
        self._kms = kms
        self.key = key
        self.keyid = key.keyid
        self.description = f"KMS key {key.arn}"

    def verify(self, data: bytes, signature: bytes) -> bool:
        message, message_type = kms_message(data, self.key.hash_name)
        try:
            response = self._kms.verify(
                KeyId=self.key.arn,
                Message=message,
                MessageType=message_type,
                Signature=signature,
                SigningAlgorithm=self.key.algorithm,
            )
        except ClientError as error:
            # AWS answers an invalid signature with an exception, not SignatureValid=false.
            if error_code(error) == "KMSInvalidSignatureException":
                return False
            raise MlopsError(
                f"verifying with KMS key {self.key.arn}: {describe_error(error)}"
            ) from None
        except BotoCoreError as error:
            raise MlopsError(
                f"verifying with KMS key {self.key.arn}: {describe_error(error)}"
            ) from None
        return bool(response.get("SignatureValid"))
