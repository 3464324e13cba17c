"""Which waiting commands the next batch takes (shared/runtime/batches.py): pure choice over
the lane's queue, so tested without a service; the batches' effects are tested through the
API in tests/integration/test_check_in_burst.py."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from shared.auth.policy import Organisation
from shared.contracts import Metadata
from shared.runtime.batches import CommandBatches, _Lane, _Waiting


class Cmd(BaseModel):
    key: str
    n: int


def lane_of(loop: asyncio.AbstractEventLoop, *keys: str) -> _Lane:
    lane = _Lane(Organisation(org_id="org-inst-1", role="training_institution"))
    for n, key in enumerate(keys):
        lane.waiting.append(_Waiting(Cmd(key=key, n=n), key, Metadata(correlation_id=f"c{n}"),
                                     None, loop.create_future()))
    return lane


def taken(batch: list[_Waiting]) -> list[int]:
    return [w.command.n for w in batch]  # type: ignore[attr-defined]


def left(lane: _Lane) -> list[int]:
    return [w.command.n for w in lane.waiting]  # type: ignore[attr-defined]


def batches(max_lines: int = 64) -> CommandBatches:
    ctx: Any = object()  # the choice of a batch reads nothing of the service
    return CommandBatches(ctx, max_lines=max_lines)


def test_a_second_command_of_one_aggregate_waits_for_the_next_batch_in_its_place() -> None:
    loop = asyncio.new_event_loop()
    try:
        lane = lane_of(loop, "a", "b", "a", "c", "b", "a")
        assert taken(batches()._next_batch(lane)) == [0, 1, 3]
        assert left(lane) == [2, 4, 5]
        assert taken(batches()._next_batch(lane)) == [2, 4]
        assert taken(batches()._next_batch(lane)) == [5]
        assert left(lane) == []
    finally:
        loop.close()


def test_a_batch_holds_at_most_max_lines_and_the_rest_keep_their_order() -> None:
    loop = asyncio.new_event_loop()
    try:
        lane = lane_of(loop, *[f"k{n}" for n in range(10)])
        assert taken(batches(max_lines=4)._next_batch(lane)) == [0, 1, 2, 3]
        assert left(lane) == [4, 5, 6, 7, 8, 9]
    finally:
        loop.close()


def test_commands_whose_requests_went_away_are_dropped_and_keys_being_written_wait() -> None:
    loop = asyncio.new_event_loop()
    try:
        lane = lane_of(loop, "a", "b", "c", "d")
        lane.waiting[1].answer.cancel()  # its client disconnected
        lane.writing.add("c")  # another writer is writing c's aggregate
        assert taken(batches()._next_batch(lane)) == [0, 3]
        assert left(lane) == [2]
        lane.writing.clear()
        assert taken(batches()._next_batch(lane)) == [2]
    finally:
        loop.close()
