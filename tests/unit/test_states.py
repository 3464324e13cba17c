"""The kept states' bounds: how long a stream must be, how many are kept, whose they are."""

from __future__ import annotations

import uuid

import pytest

from shared.runtime.states import States

A, B = object(), object()  # two deciders


def test_a_short_stream_is_not_kept() -> None:
    states = States(min_events=3)
    states.keep(A, "s", 2, uuid.uuid4(), "two")
    assert states.get(A, "s") is None
    states.keep(A, "s", 3, uuid.uuid4(), "three")
    kept = states.get(A, "s")
    assert kept is not None and (kept.version, kept.state) == (3, "three")


def test_a_state_is_only_given_to_the_decider_that_folded_it() -> None:
    states = States(min_events=1)
    states.keep(A, "s", 1, uuid.uuid4(), "a's")
    assert states.get(B, "s") is None
    assert states.get(A, "s") is not None


def test_the_least_recently_used_stream_goes_first() -> None:
    states = States(max_streams=2, min_events=1)
    for stream in ("s1", "s2"):
        states.keep(A, stream, 1, uuid.uuid4(), stream)
    assert states.get(A, "s1") is not None  # s1 used: s2 is now the oldest
    states.keep(A, "s3", 1, uuid.uuid4(), "s3")
    assert len(states) == 2
    assert states.get(A, "s2") is None
    assert [states.get(A, s) is not None for s in ("s1", "s3")] == [True, True]


def test_a_newer_state_replaces_the_kept_one() -> None:
    states = States(min_events=1)
    states.keep(A, "s", 1, uuid.uuid4(), "old")
    last = uuid.uuid4()
    states.keep(A, "s", 2, last, "new")
    kept = states.get(A, "s")
    assert kept is not None and (kept.version, kept.event_id, kept.state) == (2, last, "new")
    assert len(states) == 1


@pytest.mark.parametrize("bounds", [{"max_streams": 0}, {"min_events": 0}])
def test_bounds_are_at_least_one(bounds: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        States(**bounds)
