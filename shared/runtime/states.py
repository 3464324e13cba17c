"""Aggregate states kept between commands, so that a command on a stream with a long history
reads and folds only what was appended since the last one (a vacancy's thousand referrals,
each referral, answer and follow-up a command on the vacancy's stream).

A kept state is trusted only as far as the store agrees with it: it is built upon when the
store still holds, at the version the state was folded to, the very event it was folded up to
(the same event id and the same chain hash, which covers that event and every event before it
in the store). A state folded from an event that was later rolled back (read in a caller's
transaction that did not commit), or from a store edited or restored under the service, is
never built upon: the stream is read again from its start. A command that loses a race reads
what the winner appended on its next attempt, on top of the same kept state.

The states are immutable (every decider's ``evolve`` makes a new state), so one kept state is
shared by the commands that read it. Only streams of at least ``min_events`` events are kept
(a short stream costs less to read than an entry is worth), and at most ``max_streams``, the
least recently used dropped first. The bound is a count: a vacancy at its 2,000 referrals
holds about 1 MB, so a process's kept states stay within ``max_streams`` such aggregates."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from shared.eventsourcing.store import StoredEvent

MAX_STREAMS = 128
MIN_EVENTS = 32


@dataclass(frozen=True, slots=True)
class Kept:
    """A stream's state after its events up to ``last``, as its decider folded them."""

    decider: object
    last: StoredEvent
    state: Any

    @property
    def version(self) -> int:
        return self.last.version

    def folded_up_to(self, event: StoredEvent) -> bool:
        """Whether ``event``, read from the store, is the one this state was folded up to."""
        return ((event.version, event.event_id, event.hash)
                == (self.last.version, self.last.event_id, self.last.hash))


class States:
    def __init__(self, *, max_streams: int = MAX_STREAMS, min_events: int = MIN_EVENTS) -> None:
        if max_streams < 1 or min_events < 1:
            raise ValueError("max_streams and min_events are at least 1")
        self.max_streams = max_streams
        self.min_events = min_events
        self._kept: OrderedDict[str, Kept] = OrderedDict()
        # Stream reads since the process started (each attempt's, each stream of a batch)
        # that built on a kept state (hits) or found it no longer matching the store (misses).
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, decider: object, stream: str) -> Kept | None:
        """The stream's kept state, if ``decider`` folded it."""
        kept = self._kept.get(stream)
        if kept is None or kept.decider is not decider:
            return None
        self._kept.move_to_end(stream)
        return kept

    def keep(self, decider: object, stream: str, last: StoredEvent, state: Any) -> None:
        """Keep ``state``, folded from the stream's events up to ``last``, when the stream is
        long enough to be worth it; a shorter one's earlier state is dropped."""
        if last.version < self.min_events:
            self._kept.pop(stream, None)
            return
        self._kept[stream] = Kept(decider, last, state)
        self._kept.move_to_end(stream)
        while len(self._kept) > self.max_streams:
            self._kept.popitem(last=False)
