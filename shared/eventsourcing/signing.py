"""Ed25519 keys that make what a service publishes verifiable by everyone who reads it.

Each service holds one private key (``SONGJI_SIGNING_KEY``) and signs what it publishes;
every consumer and the auditor hold the public keys of all services
(``SONGJI_PUBLIC_KEYS``). Anyone able to write to a topic can still write bytes, but not bytes
that verify under the owning service's key, so a forged event is refused however it arrived.

Keys are text: 32 raw bytes in URL-safe base64. ``SONGJI_PUBLIC_KEYS`` is a JSON object from
service name to its public key, or to a comma-separated list of them, newest first, so a key
can be rotated in before the old one goes (anything signed under either verifies).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

SIGNATURE_BYTES = 64


class BadSignature(ValueError):
    """The data was not signed by the key of the service it claims to come from."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def _raw(text: str, what: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode())
    except (ValueError, binascii.Error):
        raise ValueError(f"{what} is not URL-safe base64") from None
    if len(raw) != 32:
        raise ValueError(f"{what} is not an Ed25519 key (32 bytes)")
    return raw


class SigningKey:
    """One service's private key. Its value is never shown (not in repr, not in errors)."""

    def __init__(self, text: str) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(_raw(text, "the signing key"))

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def public_text(self) -> str:
        return _b64(self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public_text()})"


def new_key_pair() -> tuple[str, str]:
    """A new (private, public) key pair as text."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _b64(private), _b64(public)


class PublicKeys:
    """The public keys of every publishing service: verify what each one signed."""

    def __init__(self, keys: Mapping[str, Iterable[str]]) -> None:
        self._keys: dict[str, list[Ed25519PublicKey]] = {}
        for service, texts in keys.items():
            self._keys[service] = [
                Ed25519PublicKey.from_public_bytes(_raw(text, f"public key of {service}"))
                for text in texts if text.strip()
            ]
            if not self._keys[service]:
                raise ValueError(f"no public key given for {service}")

    @classmethod
    def from_setting(cls, value: str) -> PublicKeys:
        """Parse ``SONGJI_PUBLIC_KEYS`` (a JSON object: service -> key, or "key1,key2")."""
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("the public keys are not a JSON object") from None
        if not isinstance(parsed, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()):
            raise ValueError("the public keys are not a JSON object of service -> key text")
        return cls({service: text.split(",") for service, text in parsed.items()})

    @staticmethod
    def setting(keys: Mapping[str, str]) -> str:
        """The setting's text for ``{service: public key text}``."""
        return json.dumps(dict(keys), sort_keys=True, separators=(",", ":"))

    def to_setting(self) -> str:
        """These keys as ``SONGJI_PUBLIC_KEYS`` text (``from_setting`` reads it back): to hand
        them to another process."""
        return self.setting({service: ",".join(
            _b64(key.public_bytes(Encoding.Raw, PublicFormat.Raw)) for key in keys)
            for service, keys in self._keys.items()})

    @property
    def services(self) -> list[str]:
        return sorted(self._keys)

    def holds(self, service: str, public_text: str) -> bool:
        """Whether ``public_text`` is one of ``service``'s keys."""
        raw = _raw(public_text, f"public key of {service}")
        return any(key.public_bytes(Encoding.Raw, PublicFormat.Raw) == raw
                   for key in self._keys.get(service, ()))

    def verify(self, service: str, data: bytes, signature: bytes) -> None:
        """Raise BadSignature unless one of ``service``'s keys signed ``data``."""
        keys = self._keys.get(service)
        if not keys:
            raise BadSignature(f"no public key is configured for {service}")
        if len(signature) != SIGNATURE_BYTES:
            raise BadSignature("the signature is not an Ed25519 signature")
        for key in keys:
            try:
                key.verify(signature, data)
            except InvalidSignature:
                continue
            return
        raise BadSignature(f"the signature does not verify under {service}'s key")


def check_signing_key(value: str) -> str:
    """For a settings validator: the value must be a private key (raises ValueError)."""
    SigningKey(value)
    return value


def check_public_keys(value: str) -> str:
    """For a settings validator: the value must parse as public keys (raises ValueError)."""
    PublicKeys.from_setting(value)
    return value
