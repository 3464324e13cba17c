"""Webhooks for integrators: the structured-mode CloudEvent body and its HMAC signatures.

Every delivery is signed as the Standard Webhooks specification says, so any of its libraries
verifies it: ``webhook-id`` (the delivery's id, the same on every attempt of it),
``webhook-timestamp`` (Unix seconds of the attempt) and ``webhook-signature``: ``v1,`` and the
standard base64 of HMAC-SHA256 over ``<id>.<timestamp>.<raw body>``, keyed with the bytes the
secret encodes (the base64 after ``whsec_``). Receivers refuse a timestamp more than
``DEFAULT_TOLERANCE_SECONDS`` from their clock, as the specification's libraries do.

The earlier signature, ``X-Songji-Signature: sha256=<hex>`` over ``<timestamp>.<raw body>``
keyed with the secret's text (``X-Songji-Timestamp``), is still sent, for one release.

Secrets issued before the Standard Webhooks signature were URL-safe base64 (``-`` and ``_``,
no padding); the same bytes are their key, so a receiver converts such a secret to the
standard alphabet (``-`` to ``+``, ``_`` to ``/``) before giving it to a library.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from datetime import timedelta
from typing import Any

from shared.contracts.envelope import SPEC_VERSION, Envelope

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
SIGNATURE_HEADER = "X-Songji-Signature"
TIMESTAMP_HEADER = "X-Songji-Timestamp"
DELIVERY_HEADER = "X-Songji-Delivery"
WEBHOOK_HEADER = "X-Songji-Webhook"
DEFAULT_TOLERANCE_SECONDS = 300

ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
# An integrator's own secret: as the specification's libraries generate them (24 bytes and up),
# at most 64 bytes (HMAC-SHA256 hashes a longer key first: nothing is gained).
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64


class InvalidSecret(ValueError):
    """Not ``whsec_`` and the standard base64 of 24 to 64 bytes."""


def new_secret() -> str:
    """A new secret: ``whsec_`` and the standard base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def checked_secret(text: str) -> str:
    """An integrator's own secret, if it is ``whsec_`` and the standard base64 (padding
    optional) of 24 to 64 bytes; else ``InvalidSecret``."""
    if not text.startswith(SECRET_PREFIX):
        raise InvalidSecret("the secret must start with whsec_")
    encoded = text.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret("after whsec_, the secret must be standard base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise InvalidSecret(f"the secret must encode {MIN_SECRET_BYTES} to "
                            f"{MAX_SECRET_BYTES} bytes")
    return text


def signing_key(secret: str) -> bytes:
    """The HMAC key of the Standard Webhooks signature: the bytes after ``whsec_``, decoded
    from standard base64, or from URL-safe base64 for a secret issued before (the two
    alphabets differ only in ``+/`` and ``-_``, so a secret with neither decodes the same)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    padded = encoded + "=" * (-len(encoded) % 4)
    if "-" in encoded or "_" in encoded:
        return base64.urlsafe_b64decode(padded)
    return base64.b64decode(padded)


def standard_signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The value of ``webhook-signature`` for a body sent as ``webhook_id`` at ``timestamp``."""
    mac = hmac.new(signing_key(secret), f"{webhook_id}.{timestamp}.".encode() + body,
                   hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def standard_headers(secret: str, webhook_id: str, timestamp: int,
                     body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {ID_HEADER: webhook_id, STANDARD_TIMESTAMP_HEADER: str(timestamp),
            STANDARD_SIGNATURE_HEADER: standard_signature(secret, webhook_id, timestamp, body)}


def structured_event(envelope: Envelope) -> dict[str, Any]:
    """The CloudEvents 1.0 JSON format of an event, with Songji's extension attributes."""
    body: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": str(envelope.id),
        "source": envelope.source,
        "type": envelope.type,
        "subject": envelope.subject,
        "time": envelope.time.isoformat(),
        "datacontenttype": "application/json",
        "data": envelope.data,
        "correlationid": envelope.correlation_id,
        "causationid": envelope.causation_id,
        "actororg": envelope.actor_org,
        "actoruser": envelope.actor_user,
        "schemaversion": envelope.schema_version,
        "streamversion": envelope.stream_version,
        "position": envelope.position,
    }
    return {k: v for k, v in body.items() if v is not None}


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"),
                      sort_keys=True).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The value of ``X-Songji-Signature`` (deprecated; sent for one more release) for a body
    sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(secret: str, timestamp_header: str, signature_header: str, body: bytes, *,
           now: int, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS) -> bool:
    """What a receiver does: constant-time compare, and refuse stale or future timestamps."""
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signature_header)


def retry_delay(attempts_made: int, *, first_seconds: float, cap_seconds: float) -> timedelta:
    """How long a delivery waits after its ``attempts_made``-th failed attempt: ``first``,
    doubling each time, never more than ``cap``. The wait is a time in the delivery's row
    (``not_before``), not a sleep: nothing is held while it passes."""
    doublings = min(max(attempts_made - 1, 0), 32)  # 2**32 s is past any cap already
    return timedelta(seconds=min(first_seconds * 2 ** doublings, cap_seconds))
