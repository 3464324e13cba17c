"""What the relay puts on the bus, checked without a broker: the partition each stream goes to
and the CloudEvent built from a stored event."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from shared.contracts import Envelope
from shared.eventsourcing.relay import stream_partitioner
from shared.eventsourcing.store import StoredEvent


@given(st.binary(min_size=1, max_size=60), st.integers(1, 12))
def test_the_cached_partitioner_is_the_clients_default(key: bytes, partitions: int) -> None:
    every = list(range(partitions))
    expected = DefaultPartitioner()(key, every, every)
    assert stream_partitioner(key, every, every) == expected
    assert stream_partitioner(key, every, every) == expected  # and again, from the cache


def test_a_stored_events_headers_are_its_validated_envelopes() -> None:
    stored = StoredEvent(
        position=42, event_id=UUID(int=5), stream_id="class-7", version=3,
        event_type="songji.training.AttendanceRecorded.v1", schema_version=1,
        data={"class_id": "c-7", "minutes": 240},
        metadata={"correlation_id": "r-1", "causation_id": "c-1",
                  "actor": {"org": "inst-1", "user": "u-9"}},
        recorded_at=datetime(2026, 3, 1, 8, 30, tzinfo=UTC), hash=b"h" * 32,
    )
    validated = stored.envelope("training")
    assert stored.kafka_headers("training") == validated.kafka_headers()
    assert stored.kafka_value() == validated.kafka_value() == b'{"class_id":"c-7","minutes":240}'
    headers = dict(stored.kafka_headers("training"))
    assert headers["ce_actororg"] == b"inst-1" and headers["ce_position"] == b"42"
    assert headers["ce_time"] == b"2026-03-01T08:30:00+00:00"
    # and a consumer reads back what was stored
    read = Envelope.from_kafka({k: v.decode() for k, v in headers.items()},
                               stored.kafka_value())
    assert read == validated


def test_a_stored_event_reads_a_row_in_column_order() -> None:
    from shared.eventsourcing.store import _COLUMNS

    assert StoredEvent._fields == tuple(c.strip() for c in _COLUMNS.split(","))
