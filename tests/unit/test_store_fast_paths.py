"""What the store builds its own way, for speed, must be what the ordinary way gives: its event
ids (from raw bytes, not ``uuid.uuid4``) and its dump of an event."""

from __future__ import annotations

import uuid
from datetime import date, time

from shared.contracts import Metadata
from shared.contracts.enrolment import WorkerRegistered
from shared.contracts.training import ClassScheduled, SessionPlan
from shared.eventsourcing.hashing import canonical_json
from shared.eventsourcing.store import _dump, _new_ids


def test_new_ids_are_version_4_rfc_4122_uuids_that_behave_as_uuid() -> None:
    ids = _new_ids(500)
    assert len(set(ids)) == 500
    for event_id in ids:
        plain = uuid.UUID(bytes=event_id.bytes)
        assert isinstance(event_id, uuid.UUID)
        assert (event_id.version, event_id.variant) == (4, uuid.RFC_4122)
        assert str(event_id) == str(plain) and event_id == plain
        assert hash(event_id) == hash(plain) and uuid.UUID(str(event_id)) == event_id


def test_one_id_and_none() -> None:
    assert len(_new_ids(1)) == 1 and _new_ids(0) == []


def test_the_store_dumps_an_event_as_model_dump_does() -> None:
    """The store calls each contract's serializer without ``model_dump``'s wrapper: the values
    must be the same, nested models, dates, times, enums and defaults included."""
    from tests.unit.builders import FUKANG

    scheduled = ClassScheduled(
        class_id="c-1", institution_id="i-1", occupation_code="electrician",
        target_level=4, site=FUKANG, mode="weekend", capacity=30,
        sessions=[SessionPlan(session_id="s-1", date=date(2026, 3, 2), start_local=time(8, 30),
                              end_local=time(12), kind="classroom_theory", minutes=210)],
        required_minutes=210)
    registered = WorkerRegistered(worker_id="w-1", gender="female", birth_year=1990)
    for event in (scheduled, registered, Metadata(correlation_id="c", causation_id="e")):
        assert _dump(event) == event.model_dump(mode="json")
        assert canonical_json(_dump(event)) == canonical_json(event.model_dump(mode="json"))
