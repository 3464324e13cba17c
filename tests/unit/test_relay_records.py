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


def test_a_stored_events_cloudevent_is_what_validation_would_give() -> None:
    stored = StoredEvent(
        position=42, event_id=UUID(int=5), stream_id="class-7", version=3,
        event_type="songji.training.AttendanceRecorded.v1", schema_version=1,
        data={"class_id": "c-7", "minutes": 240},
        metadata={"correlation_id": "r-1", "causation_id": "c-1",
                  "actor": {"org": "inst-1", "user": "u-9"}},
        recorded_at=datetime(2026, 3, 1, 8, 30, tzinfo=UTC), hash=b"h" * 32,
    )
    built = stored.envelope("training")
    validated = Envelope.model_validate(built.model_dump())
    assert built == validated
    assert built.kafka_headers() == validated.kafka_headers()
    assert built.kafka_value() == b'{"class_id":"c-7","minutes":240}'
    assert dict(built.kafka_headers())["ce_actororg"] == b"inst-1"


def test_a_stored_event_reads_a_row_in_column_order() -> None:
    from shared.eventsourcing.store import _COLUMNS

    assert StoredEvent._fields == tuple(c.strip() for c in _COLUMNS.split(","))
