"""The store's event ids are built from raw bytes, not by ``uuid.uuid4``: they must still be
random version 4 ids that behave as ``uuid.UUID`` everywhere (text, equality, hashing)."""

from __future__ import annotations

import uuid

from shared.eventsourcing.store import _new_ids


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
