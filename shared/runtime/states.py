"""Aggregate states kept between commands, so that a command on a stream with a long history
reads and folds only what was appended since the last one (a vacancy's thousand referrals,
each referral, answer and follow-up a command on the vacancy's stream).

A kept state is trusted only as far as the store agrees with it: it is built upon when the
store still holds, at the version the state was folded to, the very event it was folded up to
(the same event id). A state folded from an event that was later rolled back (read in a
caller's transaction that did not commit), or from a store changed under the service, is
never built upon: the stream is read again from its start. A command that loses a race reads
what the winner appended on its next attempt, on top of the same kept state.

The states are immutable (every decider's ``evolve`` makes a new state), so one kept state is
shared by the commands that read it. Only streams of at least ``min_events`` events are kept
(a short stream costs less to read than an entry is worth), and at most ``max_streams``, the
least recently used dropped first: memory is bounded whatever the number of aggregates."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

MAX_STREAMS = 256
MIN_EVENTS = 32


@dataclass(frozen=True, slots=True)
class Kept:
    """A stream's state after its events up to ``version``, the last being ``event_id``."""

    decider: int  # id() of the decider that folded it: another decider never shares it
    version: int
    event_id: UUID
    state: Any


class States:
    def __init__(self, *, max_streams: int = MAX_STREAMS, min_events: int = MIN_EVENTS) -> None:
        if max_streams < 1 or min_events < 1:
            raise ValueError("max_streams and min_events are at least 1")
        self.max_streams = max_streams
        self.min_events = min_events
        self._kept: OrderedDict[str, Kept] = OrderedDict()
        # What became of each look-up since the process started (read by the metrics).
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, decider: object, stream: str) -> Kept | None:
        """The stream's kept state, if ``decider`` folded it."""
        kept = self._kept.get(stream)
        if kept is None or kept.decider != id(decider):
            return None
        self._kept.move_to_end(stream)
        return kept

    def keep(self, decider: object, stream: str, version: int, event_id: UUID,
             state: Any) -> None:
        """Keep ``state``, folded from the stream's events up to ``version`` (the last of
        them ``event_id``), when the stream is long enough to be worth it."""
        if version < self.min_events:
            return
        self._kept[stream] = Kept(id(decider), version, event_id, state)
        self._kept.move_to_end(stream)
        while len(self._kept) > self.max_streams:
            self._kept.popitem(last=False)
