"""The hash chain: each event's hash covers its content and the previous event's hash.

    content = sha256(canonical JSON of [event id, stream, version, type, schema version,
                     recorded_at] || 0 || canonical JSON of data || 0 || of metadata)
    hash    = sha256(previous hash || position as 8 big-endian bytes || content)

The content hash is computed by the writer; the chain step runs inside the database's append
function, under the head lock, where the position and the previous hash are known. An auditor
recomputes both from the rows; the first position whose hash does not match is where the store
was edited (or a row removed or inserted).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from uuid import UUID


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(
    *,
    event_id: UUID,
    stream_id: str,
    version: int,
    event_type: str,
    schema_version: int,
    data_json: bytes,
    metadata_json: bytes,
    recorded_at: datetime,
) -> bytes:
    """Hash of one event's content; ``data_json`` and ``metadata_json`` are canonical JSON."""
    head = canonical_json([
        str(event_id), stream_id, version, event_type, schema_version,
        recorded_at.astimezone(UTC).isoformat(timespec="microseconds"),
    ])
    digest = hashlib.sha256(head)
    digest.update(b"\x00")
    digest.update(data_json)
    digest.update(b"\x00")
    digest.update(metadata_json)
    return digest.digest()


def chain_hash(previous: bytes, position: int, content: bytes) -> bytes:
    return hashlib.sha256(previous + position.to_bytes(8, "big", signed=True) + content).digest()
