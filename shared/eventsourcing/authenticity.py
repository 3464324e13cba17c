"""Authentic events: what the relay signs, and the checks every reader of a topic makes.

A service's relay signs each event it publishes (``sign``): an Ed25519 signature, in the
CloudEvents extension header ``ce_signature`` (URL-safe base64), over ``signed_bytes``: the
event's body and every ``ce_*`` attribute it carries. So no attribute can be changed, added
or removed, and no body swapped, without the signature failing.

Before an event is applied or counted, its reader (a service's inbox, the auditor's replay)
makes the same three checks, with ``check_authentic``:

1. its type belongs to the service that owns the topic it was read from (the contracts say
   which service owns each type: ``shared.contracts``);
2. its ``ce_source`` is that service (``/songji/<service>``);
3. its signature verifies under that service's public key.

A message failing one is refused with the reason (``Forged``); the inbox dead-letters it.

The signed bytes, for integrators (docs/integrators.md), are the concatenation of:

- the 16 bytes ``songji-event-v1\\n``;
- for each ``ce_*`` header except ``ce_signature``, in the order of the header names' bytes:
  the name and the value as they travel (UTF-8), each preceded by its length in bytes as a
  4-byte big-endian unsigned integer;
- the body, preceded by its length the same way.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Iterable, Mapping

from shared.contracts.base import model_for
from shared.contracts.envelope import InvalidMessage
from shared.eventsourcing.signing import BadSignature, PublicKeys, SigningKey

SIGNATURE_HEADER = "ce_signature"
DOMAIN = b"songji-event-v1\n"  # what the signature is of: never valid as anything else
_LENGTH = struct.Struct(">I").pack


class Forged(InvalidMessage):
    """A message that is not what its owning service published: dead-lettered, never applied."""


def source_of(service: str) -> str:
    """The ``ce_source`` of everything ``service`` publishes."""
    return f"/songji/{service}"


def signed_bytes(headers: Iterable[tuple[str, bytes | str]], body: bytes | None) -> bytes:
    """What the signature is over: ``headers``' ``ce_*`` attributes (all but the signature)
    sorted by name, and the body, each length-prefixed (see the module's docstring).
    ``headers`` must not repeat a name (a reader passes them as a mapping)."""
    parts = [DOMAIN]
    for name, value in sorted(
            (name.encode(), value if isinstance(value, bytes) else value.encode())
            for name, value in headers
            if name.startswith("ce_") and name != SIGNATURE_HEADER):
        parts += (_LENGTH(len(name)), name, _LENGTH(len(value)), value)
    body = body or b""
    parts += (_LENGTH(len(body)), body)
    return b"".join(parts)


def sign(headers: list[tuple[str, bytes]], body: bytes, key: SigningKey
         ) -> list[tuple[str, bytes]]:
    """``headers`` with the signature header added (the relay, for each event it publishes)."""
    signature = base64.urlsafe_b64encode(key.sign(signed_bytes(headers, body)))
    headers.append((SIGNATURE_HEADER, signature))
    return headers


def owner_of_type(ce_type: str) -> str:
    """The service whose contract declares ``ce_type``; UnknownEventType if none does."""
    return model_for(ce_type).service


def _text(value: bytes | str | None) -> str | None:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value


def check_authentic(headers: Mapping[str, bytes | str], body: bytes | None,
                    owner: str | None, keys: PublicKeys) -> None:
    """Raise ``Forged`` naming the first check the message fails (see the module's
    docstring), or ``UnknownEventType`` for a type no contract declares. ``owner`` is the
    service owning the topic it was read from (None: a topic no service owns). ``headers``
    are the message's, name -> value (text or the bytes as they travel), the last of a
    repeated name winning, as the envelope is read."""
    if owner is None:
        raise Forged("read from a topic that no service owns")
    ce_type = _text(headers.get("ce_type"))
    if not ce_type:
        raise Forged("no ce_type")
    type_owner = owner_of_type(ce_type)  # UnknownEventType: refused as unknown, as before
    if type_owner != owner:
        raise Forged(f"event type {ce_type} belongs to {type_owner}, "
                     f"not to the topic of {owner}")
    source = _text(headers.get("ce_source"))
    if source != source_of(owner):
        raise Forged(f"ce_source {(source or '')[:200]!r} is not {source_of(owner)}")
    encoded = headers.get(SIGNATURE_HEADER)
    if not encoded:
        raise Forged(f"unsigned (no {SIGNATURE_HEADER})")
    try:
        signature = base64.b64decode(
            encoded if isinstance(encoded, bytes) else encoded.encode(), altchars=b"-_",
            validate=True)
    except (ValueError, binascii.Error):
        raise Forged(f"{SIGNATURE_HEADER} is not URL-safe base64") from None
    try:
        keys.verify(owner, signed_bytes(headers.items(), body), signature)
    except BadSignature as exc:
        raise Forged(str(exc)) from None


class Authenticity:
    """The checks for one reader: everyone's public keys and the owner of each topic it reads
    (a topic missing from ``owners`` is owned by no one: everything read from it is refused)."""

    def __init__(self, keys: PublicKeys, owners: Mapping[str, str | None]) -> None:
        self.keys = keys
        self.owners = dict(owners)

    def check(self, headers: Mapping[str, bytes | str], body: bytes | None, topic: str
              ) -> None:
        """``check_authentic`` for a message read from ``topic``: raises ``Forged`` (or
        ``UnknownEventType``)."""
        check_authentic(headers, body, self.owners.get(topic), self.keys)
