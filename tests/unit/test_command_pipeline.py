"""The pure parts of the kit's command pipeline and of training's stream layout."""

from __future__ import annotations

from typing import Any

from services.training.domain.decide import class_stream, trainee_stream
from shared.eventsourcing.store import partition_key
from shared.runtime.commands import Call, RetryPolicy


def test_a_trainee_s_stream_is_published_under_its_class_s_key() -> None:
    for class_id in ("c-1", "a/b", "x%2Fy"):
        assert partition_key(trainee_stream((class_id, "w-1"))) == \
            partition_key(class_stream(class_id))


def test_no_two_class_and_worker_pairs_share_a_stream() -> None:
    pairs = [("a", "b/trainee-c"), ("a/trainee-b", "c"), ("a", "b%2Ftrainee-c"), ("a", "b")]
    assert len({trainee_stream(p) for p in pairs}) == len(pairs)


def test_a_class_id_never_names_another_class_s_trainee_stream() -> None:
    import pytest
    from pydantic import ValidationError

    from tests.unit.builders import schedule_command

    with pytest.raises(ValidationError):
        type(schedule_command()).model_validate(
            {**schedule_command().model_dump(), "class_id": "a/trainee-b"})


def test_other_streams_are_their_own_key() -> None:
    assert partition_key("worker-123") == "worker-123"


def test_retry_waits_are_bounded_and_jittered() -> None:
    policy = RetryPolicy(attempts=8, base=0.005, cap=0.25)
    waits = [policy.delay(n) for n in range(1, 8) for _ in range(50)]
    assert all(0 <= w <= 0.25 for w in waits)
    assert len(set(waits)) > 300  # random, so the losers of one race do not collide again
    assert policy.retry_after_seconds() >= 1


def test_ids_a_command_creates_are_the_same_on_every_attempt() -> None:
    call: Call[Any] = Call(None, None, None, None, None)  # type: ignore[arg-type]
    first = [call.new_id(), call.new_id()]
    call._next_attempt(None)  # type: ignore[arg-type]
    assert [call.new_id(), call.new_id()] == first
    assert call.new_id() not in first and len(set(first)) == 2
