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

# One encoder for every call: ``json.dumps`` with non-default options builds a new encoder
# each time, which was a fifth of an append's Python time. Same class, same bytes.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_escape = json.encoder.encode_basestring  # the escaping _CANONICAL applies to a str

# ``_CANONICAL.encode`` still builds the C encoder behind it on every call (about half its
# time for an event's data). This is that very encoder, made once with the arguments
# ``JSONEncoder.iterencode`` passes it, so the bytes are the same; without the circular-reference
# check (markers None), which values made by ``model_dump`` or ``json.loads`` never need.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_C_CANONICAL = (None if _c_make_encoder is None else _c_make_encoder(
    None, _CANONICAL.default, _escape, None, ":", ",", True, False, True))


def canonical_text(value: Any) -> str:
    """``canonical_json`` before its UTF-8 encoding: the store sends the text as it is."""
    if _C_CANONICAL is None:  # an interpreter without the C accelerator
        return _CANONICAL.encode(value)
    return "".join(_C_CANONICAL(value, 0))


def canonical_json(value: Any) -> bytes:
    return canonical_text(value).encode()


def canonical_time(moment: datetime) -> str:
    """The text of ``recorded_at`` inside the content hash."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def content_hash(
    *,
    event_id: UUID,
    stream_id: str,
    version: int,
    event_type: str,
    schema_version: int,
    data_json: bytes,
    metadata_json: bytes,
    recorded_at: datetime | str,
) -> bytes:
    """Hash of one event's content; ``data_json`` and ``metadata_json`` are canonical JSON.
    ``recorded_at`` may be given as its ``canonical_time`` text: the events of one append
    share it, so the writer formats it once."""
    if isinstance(recorded_at, datetime):
        recorded_at = canonical_time(recorded_at)
    # The canonical JSON of [id, stream, version, type, schema version, time], written out
    # because this runs for every event appended: the same bytes as ``canonical_json`` of the
    # list (a uuid, ints and an ISO time need no escaping; the strings go through the
    # encoder's own escaping), about three times faster.
    head = (f'["{event_id}",{_escape(stream_id)},{version:d},{_escape(event_type)},'
            f'{schema_version:d},"{recorded_at}"]').encode()
    digest = hashlib.sha256(head)
    digest.update(b"\x00")
    digest.update(data_json)
    digest.update(b"\x00")
    digest.update(metadata_json)
    return digest.digest()


def chain_hash(previous: bytes, position: int, content: bytes) -> bytes:
    return hashlib.sha256(previous + position.to_bytes(8, "big", signed=True) + content).digest()


class AppendHasher:
    """``content_hash`` for the events of one append, which share their stream, time and
    metadata: the parts of the hashed bytes that come from those are built once per append
    (and the type's once per type), not once per event. It takes the canonical JSON as text
    (``canonical_text``) and encodes everything after the event id in one go: UTF-8 of a
    concatenation is the concatenation of the UTF-8, so these are ``content_hash``'s bytes."""

    __slots__ = ("_metadata", "_recorded_at", "_stream", "_tails")

    def __init__(self, stream_id: str, recorded_at: str, metadata_text: str) -> None:
        """``recorded_at`` is the ``canonical_time`` text."""
        self._stream = f'",{_escape(stream_id)},'
        self._metadata = "\x00" + metadata_text
        self._recorded_at = recorded_at
        self._tails: dict[tuple[str, int], str] = {}

    def __call__(self, event_id: UUID, version: int, event_type: str, schema_version: int,
                 data_text: str) -> bytes:
        tail = self._tails.get((event_type, schema_version))
        if tail is None:
            tail = self._tails[event_type, schema_version] = (
                f',{_escape(event_type)},{schema_version:d},"{self._recorded_at}"]\x00')
        return hashlib.sha256(
            f'["{event_id}{self._stream}{version:d}{tail}{data_text}{self._metadata}'.encode()
        ).digest()
