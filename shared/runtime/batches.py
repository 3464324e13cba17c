"""Commands from separate requests written together: one transaction for many check-ins.

A class's trainees check in within the same minute, each from a face-check terminal's own
request. Each such command alone pays a transaction of its own: BEGIN, its reads, its
projection, its append, COMMIT, every one a round trip for which the service and the
database hand the CPU to each other, and ten such transactions at once contend for the
store's head. Written together, they share the BEGIN and the COMMIT and run their round trips
back to back on one connection (the way a session register's lines do,
``POST /classes/{id}/sessions/{session_id}/attendance``), which on a small machine is several
times cheaper per command.

What the kit guarantees for a command type whose ``CommandSpec`` has a ``batch_key``:

- **Each request answered as if alone.** Its command is decided on its own aggregate with its
  own looked-up facts, and its own refusal (a rule, ``Forbidden``, ``NotFound``) is answered
  to it alone: ``run_each`` with ``lines_independent``. Its events carry its own metadata
  (correlation id, actor).
- **Together or not at all, and retried together.** The commands of a batch commit in one
  transaction; a conflict on any stream decides them all again (the pipeline's bounded,
  jittered retries); a failure that is not a refusal (the database away) is every waiting
  request's failure, and nothing of the batch is written.
- **No two commands of one aggregate in a batch** (two commands with the same ``batch_key``):
  each is decided on its stream as it was before the batch, so the second would conflict with
  the first on every attempt. It waits for the next batch.
- **No wait to fill a batch.** A command arriving while no batch is being written starts one
  at once; those arriving meanwhile form the next. A batch holds at most ``max_lines``
  commands, so a request waits for at most one batch before its own.
- **Grouped by acting organisation and command type**, so that the role check (one per
  batch) and the scope checks are those of the organisation that sent each command. Commands
  sent with an Idempotency-Key are not batched: they run in the transaction that holds the
  key (``execute``).

A request that goes away (its client disconnected) before its batch is taken is left out; one
that goes away later is written with its batch, as a request whose answer was lost would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel

from shared import tracing
from shared.auth.policy import Organisation
from shared.contracts import Metadata
from shared.runtime.commands import Outcome, run_each
from shared.runtime.errors import DomainError

if TYPE_CHECKING:
    from shared.runtime.service import ServiceContext

log = structlog.get_logger(__name__)

DEFAULT_MAX_LINES = 64
# Batches of one lane written at once. Each holds a pooled connection while it is written and
# the store's head lock for its append and commit: two overlap one batch's round trips with
# another's without queueing much on that lock.
DEFAULT_WRITERS = 2

Answer = Outcome[Any] | DomainError


@dataclass
class _Waiting:
    command: BaseModel
    key: Hashable
    metadata: Metadata
    trace: Mapping[str, str] | None  # its request's trace context, while tracing is on
    answer: asyncio.Future[Answer]


@dataclass
class _Lane:
    """The commands of one organisation and one type waiting for a batch, and the tasks that
    write them, one batch after another each, while there are any: up to ``writers`` batches
    are written at once, so one batch's round trips overlap another's. The keys of the
    batches being written are ``writing``: a command of one of them waits for a later batch,
    so that two commands of one aggregate are never written at once."""

    org: Organisation
    waiting: deque[_Waiting] = field(default_factory=deque)
    writers: set[asyncio.Task[None]] = field(default_factory=set)
    writing: set[Hashable] = field(default_factory=set)


class CommandBatches:
    def __init__(self, ctx: ServiceContext[Any], *, max_lines: int = DEFAULT_MAX_LINES,
                 writers: int = DEFAULT_WRITERS) -> None:
        if max_lines < 1 or writers < 1:
            raise ValueError("a batch holds at least one command, and one writer writes them")
        self.ctx = ctx
        self.max_lines = max_lines
        self.writers = writers
        self._lanes: dict[tuple[str, type[Any]], _Lane] = {}

    async def run(self, command: BaseModel, org: Organisation, metadata: Metadata) -> Answer:
        """``command``'s outcome, or the refusal that is its alone; raises what failed its
        whole batch (``CommandConflict`` after the last attempt, a database error)."""
        spec = self.ctx.commands[type(command)]
        if spec.batch_key is None:
            raise TypeError(f"{type(command).__name__} is not written in batches")
        lane_key = (org.org_id, type(command))
        lane = self._lanes.get(lane_key)
        if lane is None:
            lane = self._lanes[lane_key] = _Lane(org)
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        trace = tracing.current_fields() if tracing.enabled() else None
        lane.waiting.append(_Waiting(command, spec.batch_key(command), metadata, trace, answer))
        if len(lane.writers) < self.writers:
            self._start_writer(lane_key, lane)
        return await answer

    def _start_writer(self, lane_key: tuple[str, type[Any]], lane: _Lane) -> None:
        # In a context of its own: not the request's that happened to start it (its log
        # fields, its trace), since it writes other requests' commands too.
        lane.writers.add(asyncio.create_task(
            self._write(lane_key, lane), name=f"{self.ctx.name}-batch-{lane_key[1].__name__}",
            context=contextvars.Context()))

    def _next_batch(self, lane: _Lane) -> list[_Waiting]:
        batch: list[_Waiting] = []
        keys: set[Hashable] = set()
        later: list[_Waiting] = []
        while lane.waiting and len(batch) < self.max_lines:
            waiting = lane.waiting.popleft()
            if waiting.answer.done():  # its request went away before its batch was taken
                continue
            if waiting.key in keys or waiting.key in lane.writing:
                later.append(waiting)
                continue
            keys.add(waiting.key)
            batch.append(waiting)
        lane.waiting.extendleft(reversed(later))
        return batch

    async def _write(self, lane_key: tuple[str, type[Any]], lane: _Lane) -> None:
        writer = asyncio.current_task()
        try:
            while lane.waiting:
                batch = self._next_batch(lane)
                if not batch:  # all that waits is of keys another writer is writing
                    break
                keys = {waiting.key for waiting in batch}
                lane.writing |= keys
                try:
                    await self._write_batch(lane.org, batch)
                finally:
                    lane.writing -= keys
        finally:
            # Nothing awaits between the last look at the queue and here, so no command can
            # have been queued for a writer that is ending.
            lane.writers.discard(writer)  # type: ignore[arg-type]
            if lane.waiting and not lane.writers and not _cancelling(writer):
                self._start_writer(lane_key, lane)  # left for a writer that has ended
            elif not lane.waiting and not lane.writers:
                self._lanes.pop(lane_key, None)
            if _cancelling(writer):  # shutdown: nothing more is written
                for waiting in lane.waiting:
                    if not waiting.answer.done():
                        waiting.answer.cancel()

    async def _write_batch(self, org: Organisation, batch: list[_Waiting]) -> None:
        self.ctx.metrics.command_batch_lines.observe(len(batch))
        try:
            outcomes = await run_each(self.ctx, [w.command for w in batch], org,
                                      [w.metadata for w in batch], lines_independent=True,
                                      traces=[w.trace for w in batch])
        except asyncio.CancelledError:
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.cancel()
            raise
        except Exception as failed:
            log.warning("command batch failed", commands=type(batch[0].command).__name__,
                        lines=len(batch), error=repr(failed))
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(failed)
            return
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if not waiting.answer.done():
                waiting.answer.set_result(outcome)

    async def close(self) -> None:
        """Stop writing: batches under way are cancelled (their transactions roll back) and
        their requests with them."""
        writers = [writer for lane in self._lanes.values() for writer in lane.writers]
        for writer in writers:
            writer.cancel()
        for writer in writers:
            with contextlib.suppress(asyncio.CancelledError):
                await writer


def _cancelling(task: asyncio.Task[None] | None) -> bool:
    return task is not None and task.cancelling() > 0
