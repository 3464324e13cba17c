"""Webhooks for integrators: the structured-mode CloudEvent body and its HMAC signature.

The signed content is ``<timestamp>.<raw body>`` (timestamp: Unix seconds, also sent in
``X-Songji-Timestamp``), HMAC-SHA256 with the webhook's secret, sent hex-encoded as
``X-Songji-Signature: sha256=<hex>``. Signing the timestamp lets a receiver refuse a captured
request replayed later; signing the raw bytes means a receiver must verify before parsing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

from shared.contracts.envelope import SPEC_VERSION, Envelope

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
SIGNATURE_HEADER = "X-Songji-Signature"
TIMESTAMP_HEADER = "X-Songji-Timestamp"
DELIVERY_HEADER = "X-Songji-Delivery"
WEBHOOK_HEADER = "X-Songji-Webhook"
DEFAULT_TOLERANCE_SECONDS = 300


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
    """The value of ``X-Songji-Signature`` for a body sent at ``timestamp``."""
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
