"""What tracing costs when it is off: event-store appends with the tracing hooks as shipped
(``OTEL_EXPORTER_OTLP_ENDPOINT`` unset) against the same appends with the hooks taken out of
the path altogether, alternated run by run on one database (each first every other time) so
both see the same machine; and the time of the per-event hooks of the relay and the inbox on
their own."""

from __future__ import annotations

import contextlib
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from shared import tracing
from shared.contracts import Metadata
from shared.contracts.enrolment import WorkerRegistered
from shared.eventsourcing import store as store_module
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.inbox import _trace_context
from shared.eventsourcing.migrations import KIT_MIGRATIONS, apply_migrations, migration_files
from shared.eventsourcing.store import EventStore
from shared.infra.postgres import create_database

META = Metadata(correlation_id="bench")
EVENT = WorkerRegistered(worker_id="0" * 32, gender="female", birth_year=1990)


@dataclass(frozen=True)
class TracingOff:
    with_hooks: float  # appends per second, the code as shipped, tracing off
    without_hooks: float  # appends per second, the hooks removed
    hooks_ns: float  # the relay's and the inbox's per-event hooks, tracing off, nanoseconds

    @property
    def ratio(self) -> float:
        return self.with_hooks / self.without_hooks


@contextlib.contextmanager
def _hooks_removed() -> Iterator[None]:
    """The append path exactly as before tracing existed."""
    append, metadata_of = EventStore._append, store_module._metadata_of
    EventStore._append = EventStore._append_traced  # type: ignore[method-assign]
    store_module._metadata_of = store_module._dump  # type: ignore[assignment]
    try:
        yield
    finally:
        EventStore._append = append  # type: ignore[method-assign]
        store_module._metadata_of = metadata_of


def _hooks_ns(rounds: int = 200_000) -> float:
    metadata = {"correlation_id": "bench"}
    headers = {"ce_id": "x", "ce_type": "t"}
    started = time.perf_counter_ns()
    for _ in range(rounds):
        with tracing.span("songji.publish", parent=tracing.context_of(metadata)):
            pass
        with tracing.span("songji.apply", parent=_trace_context(headers)):
            pass
    return (time.perf_counter_ns() - started) / rounds


async def bench_tracing_off(pg: str, *, commits: int, repeats: int) -> TracingOff:
    assert not tracing.enabled(), "tracing must be off for this benchmark"
    dsn = await create_database(pg, f"bench_tracing_{uuid.uuid4().hex[:8]}")
    pool = await create_pool(dsn, max_size=2)
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn, migration_files(KIT_MIGRATIONS))
        store = EventStore(pool)

        async def rate() -> float:
            async with pool.acquire() as conn:
                started = time.perf_counter()
                for _ in range(commits):
                    await store.append(f"worker-{uuid.uuid4().hex}", 0, [EVENT], META,
                                       conn=conn)
                return commits / (time.perf_counter() - started)

        await rate()  # warm-up: connections, statement cache
        with_hooks, without_hooks = [], []
        for run in range(repeats):  # each goes first every other time: no order favoured
            if run % 2:
                with _hooks_removed():
                    without_hooks.append(await rate())
            with_hooks.append(await rate())
            if not run % 2:
                with _hooks_removed():
                    without_hooks.append(await rate())
        return TracingOff(statistics.median(with_hooks), statistics.median(without_hooks),
                          _hooks_ns())
    finally:
        await pool.close()
