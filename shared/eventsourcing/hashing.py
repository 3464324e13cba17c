"""The hash chain: each event's hash covers its content and the previous event's hash.

An auditor recomputes the chain from the first event; the first position whose hash does not
match is where the store was edited (or a row removed or inserted).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(
    previous: bytes,
    *,
    position: int,
    event_id: UUID,
    stream_id: str,
    version: int,
    event_type: str,
    schema_version: int,
    data: dict[str, Any],
    metadata: dict[str, Any],
    recorded_at: datetime,
) -> bytes:
    body = canonical_json(
        [
            position,
            str(event_id),
            stream_id,
            version,
            event_type,
            schema_version,
            data,
            metadata,
            recorded_at.astimezone(UTC).isoformat(timespec="microseconds"),
        ]
    )
    return hashlib.sha256(previous + body).digest()
