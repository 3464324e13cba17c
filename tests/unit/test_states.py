"""The kept states' bounds: how long a stream must be, how many are kept, whose they are."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared.eventsourcing.store import StoredEvent
from shared.runtime.states import States

A, B = object(), object()  # two deciders


def event(version: int, hash: bytes = b"h") -> StoredEvent:
    return StoredEvent(version, uuid.uuid4(), "s", version, "T", 1, {}, {},
                       datetime.now(UTC), hash)


def test_a_short_stream_is_not_kept() -> None:
    states = States(min_events=3)
    states.keep(A, "s", event(2), "two")
    assert states.get(A, "s") is None
    states.keep(A, "s", event(3), "three")
    kept = states.get(A, "s")
    assert kept is not None and (kept.version, kept.state) == (3, "three")


def test_a_state_is_only_given_to_the_decider_that_folded_it() -> None:
    states = States(min_events=1)
    states.keep(A, "s", event(1), "a's")
    assert states.get(B, "s") is None
    assert states.get(A, "s") is not None


def test_the_least_recently_used_stream_goes_first() -> None:
    states = States(max_streams=2, min_events=1)
    for stream in ("s1", "s2"):
        states.keep(A, stream, event(1), stream)
    assert states.get(A, "s1") is not None  # s1 used: s2 is now the oldest
    states.keep(A, "s3", event(1), "s3")
    assert len(states) == 2
    assert states.get(A, "s2") is None
    assert [states.get(A, s) is not None for s in ("s1", "s3")] == [True, True]


def test_a_newer_state_replaces_the_kept_one() -> None:
    states = States(min_events=1)
    states.keep(A, "s", event(1), "old")
    last = event(2)
    states.keep(A, "s", last, "new")
    kept = states.get(A, "s")
    assert kept is not None and (kept.version, kept.last, kept.state) == (2, last, "new")
    assert len(states) == 1


def test_a_stream_read_again_shorter_drops_its_kept_state() -> None:
    states = States(min_events=3)
    states.keep(A, "s", event(5), "five")
    states.keep(A, "s", event(2), "two, after a restore")
    assert states.get(A, "s") is None and len(states) == 0


def test_a_state_is_built_upon_only_from_the_very_event_it_was_folded_up_to() -> None:
    states = States(min_events=1)
    last = event(4, hash=b"chain-4")
    states.keep(A, "s", last, "four")
    kept = states.get(A, "s")
    assert kept is not None and kept.folded_up_to(last)
    assert not kept.folded_up_to(event(4, hash=b"chain-4"))  # another event at version 4
    assert not kept.folded_up_to(last._replace(hash=b"edited"))  # the store edited under it
    assert not kept.folded_up_to(last._replace(version=5))


@pytest.mark.parametrize("bounds", [{"max_streams": 0}, {"min_events": 0}])
def test_bounds_are_at_least_one(bounds: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        States(**bounds)
