"""The content hash is the audit trail's anchor: the writer's fast path must give the very
bytes an auditor recomputes from the rows."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.eventsourcing.hashing import (
    AppendHasher,
    canonical_json,
    canonical_text,
    canonical_time,
    chain_hash,
    content_hash,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500)
@given(json_values)
def test_canonical_json_is_sorted_compact_utf8(value: object) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected.encode()
    assert canonical_text(value) == expected


def _reference_hash(event_id: UUID, stream_id: str, version: int, event_type: str,
                    schema_version: int, recorded_at: datetime, data: bytes, meta: bytes
                    ) -> bytes:
    """The definition in the module docstring, spelt out the slow way."""
    head = json.dumps([str(event_id), stream_id, version, event_type, schema_version,
                       recorded_at.astimezone(UTC).isoformat(timespec="microseconds")],
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(head + b"\x00" + data + b"\x00" + meta).digest()


@settings(max_examples=1000)
@given(st.uuids(), st.text(), st.integers(1, 2**31 - 1), st.text(), st.integers(0, 2**31 - 1),
       st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))])),
       st.binary(max_size=40), st.binary(max_size=40))
def test_the_content_hash_from_a_time_or_its_text_matches_the_definition(
    event_id: UUID, stream_id: str, version: int, event_type: str, schema_version: int,
    recorded_at: datetime, data: bytes, meta: bytes,
) -> None:
    expected = _reference_hash(event_id, stream_id, version, event_type, schema_version,
                               recorded_at, data, meta)
    fields = dict(event_id=event_id, stream_id=stream_id, version=version,
                  event_type=event_type, schema_version=schema_version, data_json=data,
                  metadata_json=meta)
    assert content_hash(**fields, recorded_at=recorded_at) == expected
    assert content_hash(**fields, recorded_at=canonical_time(recorded_at)) == expected


def test_a_stream_name_with_quotes_and_non_ascii_is_escaped_as_json() -> None:
    moment = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    event_id = UUID(int=7)
    tricky = 'worker-"富康"\\\n\u2028'
    assert content_hash(event_id=event_id, stream_id=tricky, version=1, event_type="t",
                        schema_version=1, data_json=b"{}", metadata_json=b"{}",
                        recorded_at=canonical_time(moment)) == _reference_hash(
        event_id, tricky, 1, "t", 1, moment, b"{}", b"{}")


def test_chain_hash_covers_previous_position_and_content() -> None:
    base = chain_hash(b"", 1, b"c" * 32)
    assert base == hashlib.sha256((1).to_bytes(8, "big") + b"c" * 32).digest()
    assert chain_hash(base, 2, b"c" * 32) != chain_hash(base, 3, b"c" * 32)
    assert chain_hash(base, 2, b"c" * 32) != chain_hash(b"", 2, b"c" * 32)


@settings(max_examples=500)
@given(st.text(), st.datetimes(timezones=st.just(UTC)), st.text(max_size=40),
       st.lists(st.tuples(st.uuids(), st.integers(1, 2**31 - 1),
                          st.sampled_from(["songji.a.B.v1", 'odd "type"\n富']),
                          st.integers(0, 3), st.text(max_size=40)), max_size=5))
def test_an_appends_hasher_gives_the_content_hash_of_each_event(
    stream_id: str, recorded_at: datetime, meta: str,
    events: list[tuple[UUID, int, str, int, str]],
) -> None:
    hasher = AppendHasher(stream_id, canonical_time(recorded_at), meta)
    for event_id, version, event_type, schema_version, data in events:
        assert hasher(event_id, version, event_type, schema_version, data) == content_hash(
            event_id=event_id, stream_id=stream_id, version=version, event_type=event_type,
            schema_version=schema_version, data_json=data.encode(),
            metadata_json=meta.encode(), recorded_at=recorded_at)


@settings(max_examples=300)
@given(st.floats() | st.dictionaries(st.text(), st.floats() | st.text(), max_size=4))
def test_canonical_json_of_floats_and_strings_is_what_json_dumps_gives(value: object) -> None:
    """The encoder is made once, as ``JSONEncoder`` makes it on every call: same bytes,
    including floats (shortest repr, NaN and infinities as ``json.dumps`` writes them)."""
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected.encode()
    assert canonical_text(value) == expected
