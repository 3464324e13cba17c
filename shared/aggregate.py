"""Load an aggregate's state by folding its stream through ``evolve``.

Handlers load, decide, append: this is the load, shared so no service re-implements it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import asyncpg

from shared.contracts import model_for
from shared.eventsourcing.store import EventStore, StoredEvent

S = TypeVar("S")


async def load(store: EventStore, stream_id: str, evolve: Callable[[S, Any], S],
               initial: S, *, conn: asyncpg.Connection | None = None) -> tuple[S, int]:
    """The state after every event of the stream, and the version to append after; read on
    ``conn`` when the caller is inside a transaction on it (see ``EventStore.read_stream``)."""
    stored = await store.read_stream(stream_id, conn=conn)
    return fold(stored, evolve, initial), (stored[-1].version if stored else 0)


def fold(stored: Sequence[StoredEvent], evolve: Callable[[S, Any], S], initial: S) -> S:
    """The state after ``stored``, each event parsed into its contract, in order."""
    return fold_data(((e.event_type, e.data) for e in stored), evolve, initial)


def fold_data(events: Iterable[tuple[str, Any]], evolve: Callable[[S, Any], S],
              initial: S) -> S:
    """``fold`` of (event type, data) pairs, as a query of a service's own may read them."""
    state = initial
    for event_type, data in events:
        state = evolve(state, model_for(event_type).model_validate(data))
    return state
