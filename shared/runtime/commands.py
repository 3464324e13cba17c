"""One pipeline for every command of every service.

authorise → look up → load → decide → project → append → keep the Idempotency-Key answer, in
**one** transaction on the request's connection. A service does not write this sequence: it
declares, per command type, a ``CommandSpec`` (in its ``ServiceSpec.commands``), and its routes
call ``execute``. What the kit guarantees for every command of every service:

- **One authorisation check.** The role is checked first (``require_role``: a role that may
  never do this learns nothing about the target, not even whether it exists), then, once the
  target is loaded, ``require`` with its scope (a station's site, an institution's own class).
- **Nothing half done.** The look-ups, the load, the projection, the command's other writes,
  the append and the stored Idempotency-Key answer commit together or not at all. A rule
  broken anywhere raises before anything is written.
- **Conflicts are the service's problem, not the caller's.** When another command appended to
  the stream between this one's load and its append (``ConcurrencyError``), the attempt is
  rolled back and made again, looked-up facts and state re-read: the decision is pure, so
  making it again is safe, and it is made against the state that won the race (a capacity
  check sees the enrolment that took the last place). Attempts are bounded
  (``command_attempts``) with jittered, capped backoff, so a command ends within a known
  time; after the last, 409 ``concurrent_update`` with ``Retry-After``.
- **Short hold of the store's head.** Every append locks the store's single head row until
  commit (the gap-free order the relay relies on), so the append is the attempt's last write:
  the lock is held for the append and the commit only, not while projections are written.

Ids a command creates (an attendance id, a survey id) come from ``Call.new_id``: the same on
every attempt of one request, so a retried decision names the same records.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import asyncpg
import structlog
from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from shared.aggregate import fold
from shared.auth.policy import Action, Forbidden, Organisation, Target, require, require_role
from shared.contracts import Event, Metadata
from shared.eventsourcing.db import transaction
from shared.eventsourcing.store import ConcurrencyError, StreamAppend
from shared.runtime.errors import DomainError, NotFound
from shared.runtime.idempotency import IdempotentRequest, answer

if TYPE_CHECKING:
    from shared.runtime.service import ServiceContext

log = structlog.get_logger(__name__)

C = TypeVar("C", bound=BaseModel)  # a command
S = TypeVar("S")  # an aggregate's state
G = TypeVar("G")  # what a decision is given besides command and state


@dataclass(frozen=True)
class Decider(Generic[S]):
    """An aggregate, as the pipeline needs it: where its events live (``stream`` of the
    aggregate's id), the state before any event, how an event changes the state, and
    ``decide(command, state, given) -> events``, pure, raising ``DomainError`` on a broken
    rule."""

    stream: Callable[[Any], str]
    initial: S
    evolve: Callable[[S, Any], S]
    decide: Callable[[Any, S, Any], Sequence[Event]]


@dataclass
class Call(Generic[C]):
    """One command being executed: what ``given``, ``scope``, ``record`` and ``answer`` see."""

    ctx: ServiceContext[Any]
    command: C
    org: Organisation
    conn: asyncpg.Connection
    metadata: Metadata
    # The trace context of the request that sent it, when it is written by another task (a
    # batch); None: the writing task's own.
    trace: Mapping[str, str] | None = None
    _ids: list[str] = field(default_factory=list)
    _used: int = 0

    def new_id(self) -> str:
        """A fresh id for something the command creates; the n-th call gives the same id on
        every attempt of this request."""
        if self._used == len(self._ids):
            self._ids.append(uuid.uuid4().hex)
        self._used += 1
        return self._ids[self._used - 1]

    def _next_attempt(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self._used = 0


async def _nothing(_: Call[Any]) -> None:
    return None


def _no_scope(_: Any, __: Any, ___: Any) -> Target:
    return Target()


async def _no_writes(_: Call[Any], __: Any, ___: Sequence[Event]) -> None:
    return None


def _no_answer(_: Call[Any], __: Any, ___: Sequence[Event]) -> None:
    return None


@dataclass(frozen=True)
class CommandSpec(Generic[C, S, G]):
    """How one command type runs through the pipeline.

    - ``decider``: the aggregate it is decided by and appended to;
    - ``aggregate_id(command, given)``: which one (usually a field of the command), as the
      decider's ``stream`` takes it;
    - ``action``: what the acting organisation must be allowed to do;
    - ``given(call)``: what the decision needs to look up (a class view, a roster, today),
      read on ``call.conn`` in the command's transaction; it may lock what must not change
      until commit, and raise ``NotFound`` for what the command names but does not exist;
    - ``scope(command, state, given)``: the target the permission is checked against (raise
      ``NotFound`` when the aggregate does not exist and the command needs it);
    - ``record(call, given, events)``: what the command writes besides its events and their
      projection (the sealed personal record of a registration, a certificate number used);
    - ``answer(call, given, events)``: the body of the route's answer, with ``status_code``;
    - ``given_all(calls)``: ``given`` for several commands of this type decided together (a
      batch, a register) in one look-up: each command's given, or its refusal, in order;
      without it, ``given`` is called for each;
    - ``batch_key(command)``: when set, commands of this type sent without an Idempotency-Key
      are written in batches with others of the same organisation (``shared.runtime.batches``);
      the key names the aggregate the command is decided by, and two commands with the same
      key never share a batch.
    """

    decider: Decider[S]
    aggregate_id: Callable[[C, G], Any]
    action: Action
    given: Callable[[Call[C]], Awaitable[G]] = _nothing  # type: ignore[assignment]
    scope: Callable[[C, S, G], Target] = _no_scope
    record: Callable[[Call[C], G, Sequence[Event]], Awaitable[None]] = _no_writes
    answer: Callable[[Call[C], G, Sequence[Event]], Any] = _no_answer
    status_code: int = 204
    batch_key: Callable[[C], Hashable] | None = None
    given_all: Callable[[Sequence[Call[C]]], Awaitable[Sequence[G | DomainError]]] | None = None


@dataclass(frozen=True)
class Outcome(Generic[G]):
    """What a command did: its events (as appended) and what its decision was given."""

    events: Sequence[Event]
    given: G
    body: Any
    attempts: int


@dataclass(frozen=True)
class RetryPolicy:
    """How often a command that lost a race is made again, and how long it waits between
    attempts: a random time up to ``base * 2**n`` seconds, at most ``cap`` (full jitter, so
    the losers of one race do not collide again in step)."""

    attempts: int = 8
    base: float = 0.005
    cap: float = 0.25

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2 ** attempt))

    def retry_after_seconds(self) -> int:
        """What the 409 after the last attempt tells the client to wait: as long as all the
        attempts could have waited, at least a second."""
        return max(1, round(sum(min(self.cap, self.base * 2 ** n)
                                for n in range(self.attempts))))


class CommandConflict(ConcurrencyError):
    """Every attempt lost its race: 409 ``concurrent_update`` with ``Retry-After``."""

    def __init__(self, last: ConcurrencyError, attempts: int, retry_after: int) -> None:
        super().__init__(last.stream_id, last.expected, last.actual)
        self.attempts = attempts
        self.retry_after = retry_after


async def run(ctx: ServiceContext[Any], command: BaseModel, org: Organisation,
              metadata: Metadata, conn: asyncpg.Connection | None = None) -> Outcome[Any]:
    """Execute ``command`` through the pipeline; on ``conn`` (a savepoint per attempt in the
    caller's transaction, e.g. the one that holds an Idempotency-Key) or in a transaction of
    its own per attempt."""
    [outcome] = await run_each(ctx, [command], org, metadata, conn)
    if isinstance(outcome, DomainError):  # cannot happen: nothing is refusable line by line
        raise outcome
    return outcome


async def run_each(ctx: ServiceContext[Any], commands: Sequence[BaseModel], org: Organisation,
                   metadata: Metadata | Sequence[Metadata],
                   conn: asyncpg.Connection | None = None, *,
                   refusable: Callable[[DomainError], bool] = lambda _: False,
                   lines_independent: bool = False,
                   traces: Sequence[Mapping[str, str] | None] | None = None,
                   ) -> list[Outcome[Any] | DomainError]:
    """Execute several commands as one: all decided, then all written, in one transaction.

    A command refused with a ``DomainError`` that ``refusable`` accepts is left out and its
    refusal returned in its place (a session register's trainee who is not enrolled); any
    other refusal, and every ``Forbidden`` or ``NotFound``, refuses them all. With
    ``lines_independent`` (commands of separate requests, ``shared.runtime.batches``) every
    refusal is its command's alone. A conflict on any stream makes the whole set again. The
    commands must name different aggregates: each is decided on its stream as it was before
    any of them is appended. ``metadata``: one for all, or each command's own; ``traces``:
    each command's trace context, when they come from other tasks' requests."""
    specs = [_spec(ctx, command) for command in commands]
    for action in {spec.action for spec in specs}:
        require_role(org, action)
    each_metadata = ([metadata] * len(commands) if isinstance(metadata, Metadata)
                     else list(metadata))
    if len(each_metadata) != len(commands):
        raise ValueError("one metadata for each command, or one for all")
    each_trace = list(traces) if traces is not None else [None] * len(commands)
    calls: list[Call[Any]] = [
        Call(ctx, command, org, conn, meta, trace)  # type: ignore[arg-type]
        for command, meta, trace in zip(commands, each_metadata, each_trace, strict=True)]

    def kept(refusal: DomainError) -> DomainError:
        """A refusal answered in its command's place; raised when it refuses them all."""
        if not lines_independent and (isinstance(refusal, Forbidden | NotFound)
                                      or not refusable(refusal)):
            raise refusal
        return refusal

    policy = ctx.retry_policy
    for attempt in range(1, policy.attempts + 1):
        try:
            async with transaction(ctx.pool, conn) as attempt_conn:
                decided = await _decide_all(ctx, specs, calls, attempt_conn, kept)
                written = [d for d in decided if isinstance(d, _Decided)]
                # One projection of every command's events, in the commands' order: a service
                # may write a run of alike events in one statement.
                await ctx.project(attempt_conn, [e for d in written for e in d.events])
                for d in written:
                    await d.spec.record(d.call, d.given, d.events)
                # The appends last, in one statement: it takes the store's head lock until
                # commit. Each command's events keep its own metadata.
                if written:
                    await ctx.store.append_to_streams(
                        [StreamAppend(d.stream, d.version, d.events, d.call.metadata,
                                      d.call.trace) for d in written],
                        each_metadata[0], conn=attempt_conn)
                return [d if isinstance(d, DomainError) else
                        Outcome(d.events, d.given, d.spec.answer(d.call, d.given, d.events),
                                attempt) for d in decided]
        except ConcurrencyError as conflict:
            names = sorted({type(c).__name__ for c in commands})
            ctx.metrics.counted_conflict(names, exhausted=attempt == policy.attempts)
            if attempt == policy.attempts:
                log.warning("command conflicts exhausted", commands=names,
                            stream=conflict.stream_id, attempts=attempt)
                raise CommandConflict(conflict, attempt, policy.retry_after_seconds()) from None
            log.info("command conflict, deciding again", commands=names,
                     stream=conflict.stream_id, attempt=attempt)
            await asyncio.sleep(policy.delay(attempt))
    raise AssertionError("unreachable: the loop returns or raises")


def _spec(ctx: ServiceContext[Any], command: BaseModel) -> CommandSpec[Any, Any, Any]:
    spec = ctx.commands.get(type(command))
    if spec is None:
        raise TypeError(f"{ctx.name} declares no command {type(command).__name__}")
    return spec


@dataclass(frozen=True)
class _Decided:
    spec: CommandSpec[Any, Any, Any]
    call: Call[Any]
    given: Any
    stream: str
    version: int
    events: list[Event]


async def _look_up(specs: Sequence[CommandSpec[Any, Any, Any]], calls: Sequence[Call[Any]],
                   conn: asyncpg.Connection) -> list[Any]:
    """Each command's given, or its refusal: together for the commands of a spec with
    ``given_all``, one by one for the others, in the commands' order."""
    givens: list[Any] = [None] * len(calls)
    by_spec: dict[int, list[int]] = {}
    for at, (spec, call) in enumerate(zip(specs, calls, strict=True)):
        call._next_attempt(conn)
        by_spec.setdefault(id(spec), []).append(at)
    for indexes in by_spec.values():
        spec = specs[indexes[0]]
        if spec.given_all is not None and len(indexes) > 1:
            together = await spec.given_all([calls[at] for at in indexes])
            for at, given in zip(indexes, together, strict=True):
                givens[at] = given
            continue
        for at in indexes:
            try:
                givens[at] = await spec.given(calls[at])
            except DomainError as refusal:
                givens[at] = refusal
    return givens


async def _decide_all(ctx: ServiceContext[Any], specs: Sequence[CommandSpec[Any, Any, Any]],
                      calls: Sequence[Call[Any]], conn: asyncpg.Connection,
                      kept: Callable[[DomainError], DomainError]
                      ) -> list[_Decided | DomainError]:
    """Each command's facts looked up, then every command's stream read in one query, then
    each decided; a refusal, wherever it comes, goes through ``kept``."""
    givens = await _look_up(specs, calls, conn)
    found: list[tuple[Any, str] | DomainError] = []
    for spec, call, given in zip(specs, calls, givens, strict=True):
        if isinstance(given, DomainError):
            found.append(kept(given))
            continue
        found.append((given, spec.decider.stream(spec.aggregate_id(call.command, given))))
    deciders: dict[str, Decider[Any]] = {}
    for spec, looked_up in zip(specs, found, strict=True):
        if not isinstance(looked_up, DomainError):
            if deciders.setdefault(looked_up[1], spec.decider) is not spec.decider:
                raise ValueError(f"two deciders for the stream {looked_up[1]}")
    current = await _current_states(ctx, deciders, conn)
    decided: list[_Decided | DomainError] = []
    for spec, call, looked_up in zip(specs, calls, found, strict=True):
        if isinstance(looked_up, DomainError):
            decided.append(looked_up)
            continue
        given, stream = looked_up
        version, state = current[stream]
        try:
            require(call.org, spec.action, spec.scope(call.command, state, given))
            events = list(spec.decider.decide(call.command, state, given))
        except DomainError as refusal:
            decided.append(kept(refusal))
            continue
        decided.append(_Decided(spec, call, given, stream, version, events))
    return decided


async def _current_states(ctx: ServiceContext[Any], deciders: Mapping[str, Decider[Any]],
                          conn: asyncpg.Connection) -> dict[str, tuple[int, Any]]:
    """Each stream's version and state, read in one query: from the state kept after an
    earlier command (``ctx.states``) and the events appended since, when the store still holds
    the event that state was folded up to; else (a second query) from the stream's start."""
    bases = {stream: ctx.states.get(decider, stream) for stream, decider in deciders.items()}
    read = await ctx.store.read_streams(
        list(deciders), conn=conn,
        from_versions={stream: b.version for stream, b in bases.items() if b is not None})
    current: dict[str, tuple[int, Any]] = {}
    for stream, decider in deciders.items():
        events, base = read[stream], bases[stream]
        state, version = decider.initial, 0
        if base is not None and events and base.folded_up_to(events[0]):
            state, version, events = base.state, base.version, events[1:]
            ctx.states.hits += 1
        elif base is not None:  # the store no longer holds what it was folded from
            events = await ctx.store.read_stream(stream, conn=conn)
            ctx.states.misses += 1
        state = fold(events, decider.evolve, state)
        if events:
            version = events[-1].version
            ctx.states.keep(decider, stream, events[-1], state)
        current[stream] = version, state
    return current


async def execute(ctx: ServiceContext[Any], command: BaseModel, request: Request,
                  org: Organisation, once: IdempotentRequest) -> Response:
    """A route's whole body: run ``command`` under the request's Idempotency-Key (when it
    carries one) and answer with the command's status code and body."""
    from shared.auth.http import acting_metadata  # auth.http imports the service module

    spec = _spec(ctx, command)
    metadata = acting_metadata(request, org)

    async def effect(conn: asyncpg.Connection | None) -> Response:
        if conn is None and spec.batch_key is not None:
            batched = await ctx.batches.run(command, org, metadata)
            if isinstance(batched, DomainError):
                raise batched
            outcome = batched
        else:
            outcome = await run(ctx, command, org, metadata, conn)
        if spec.status_code == 204:
            return Response(status_code=204)
        return answer(spec.status_code, outcome.body)

    return await once.run(ctx.pool, org.org_id, effect)
