"""Funding's reads at a province's scale: the same requests against 10,000 and 100,000 trainees.

Funding runs as its own process (the ``Launcher`` of ``songji up``, organisations and tokens
made for the run, as in ``bench/training_api.py``). Its state is what the running service
would hold after consuming a province's history, made without the broker (pushing a million
events through the topics one at a time would take most of an hour and measure nothing this
benchmark is about):

1. the HR bureau publishes the policy through the API;
2. the history is generated a chunk of classes at a time (``bench/history.py``'s
   ``class_envelopes``, in classes of 50 with 6 sessions: schedule, attendance per trainee
   and session, completion, the assessment, 80% certified). Each chunk's events go into
   funding's input log (the rows ``records.log_input`` writes for each consumed event, many
   per statement) and funding's own ``records.recompute`` re-derives the chunk's trainees in
   the same transaction: the lines, their ``PayoutDue`` events in funding's store and the
   read models, as the consumer does for a completion. Only one chunk is in memory at a time;
3. the HR bureau allocates one fund (about half of what is due) and approves one batch of
   lines through the API; the service's relay publishes funding's events and the benchmark
   waits until it has caught up, then vacuums and analyses funding's database (what
   autovacuum does in time), so that no background work is timed.

Then, over HTTP with the HR bureau's token, 200 requests of each read (a few at once, each
request naming a class, worker or line drawn from the whole province), timed from sending to
the whole answer; and the time of publishing a policy version that changes the training
subsidy (every certified trainee's line gets an adjustment).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.history import Clock, Shape, body_envelope, class_envelopes, policy_body
from bench.timing import percentile
from services.funding.records import recompute
from shared.contracts import Actor, Envelope, Metadata
from shared.contracts.bounds import MAX_BATCH_LINES
from shared.contracts.training import ClassCompleted
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.store import EventStore
from shared.infra.dev_organisations import dev_tokens
from songji.launcher import Launcher

SHAPE = Shape(trainees=50, sessions=6, certified_percent=80)
CLASSES_PER_CHUNK = 20  # 1,000 trainees a transaction: bounded memory, few round trips
# Reads timed per figure (``requests`` of bench_province): in a full run 2,000, whose 99th
# percentile is the 20th slowest (that of 200 was the 2nd, and moved by up to 2× between
# runs), so that the reads during a job (tens of thousands) are compared with a quiet figure
# measured about as precisely.
FULL_REQUESTS, CONCURRENCY, WARM_UP = 2000, 4, 40
ROUND_READS = 200  # reads of one province before the other's turn
FUND = "province-2025"
READS = ("ledger_by_class", "ledger_by_worker", "budget", "line")
META = Metadata(correlation_id="bench-province", actor=Actor(org="funding"))
_INSERT_INPUT = """
    INSERT INTO funding_input_log (event_id, source, event_type, stream_id, stream_version,
        recorded_at, data, class_id, worker_id, roster)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"""


@dataclass
class Timings:
    """Latencies in ms of one kind of request, and the statuses that were not 200."""

    latencies_ms: list[float] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=dict)

    def add(self, other: Timings) -> None:
        self.latencies_ms += other.latencies_ms
        for status, n in other.failed.items():
            self.failed[status] = self.failed.get(status, 0) + n

    def quantile(self, q: float) -> float:
        return percentile(sorted(self.latencies_ms), q)

    def summary(self) -> dict[str, Any]:
        return {"requests": len(self.latencies_ms), "failed": self.failed,
                "p50_ms": self.quantile(50), "p99_ms": self.quantile(99),
                "max_ms": max(self.latencies_ms, default=float("nan"))}


@dataclass
class ProvinceRun:
    trainees: int
    classes: int
    input_events: int
    lines: int
    setup_seconds: float
    reads: dict[str, Timings]
    policy_seconds: float  # from publishing a policy version to its recompute job's done
    policy_lines: int  # lines the policy version added (adjustments)
    policy_answered_seconds: float  # the publication's own answer (202, with its job)
    reads_during_job: Timings  # the worker ledger read while the job ran
    watch_quiet: Watch  # the service's own view of its quiet worker ledger reads
    watch_during_job: Watch  # and of the job's time

    def summary(self) -> dict[str, Any]:
        return {"trainees": self.trainees, "classes": self.classes,
                "input_events": self.input_events, "lines": self.lines,
                "setup_seconds": self.setup_seconds, "policy_seconds": self.policy_seconds,
                "policy_lines": self.policy_lines,
                "policy_answered_seconds": self.policy_answered_seconds,
                "reads_during_job": self.reads_during_job.summary(),
                "service_quiet": self.watch_quiet.summary(),
                "service_during_job": self.watch_during_job.summary(),
                "reads": {k: t.summary() for k, t in self.reads.items()}}


# What the service itself saw, from its /metrics: how late its event loop woke a sleeping
# task (songji_event_loop_lag_seconds), and how long the worker ledger's requests took from
# the app's first look at them to their answer's end (http_request_duration_seconds).
# Against the latencies the client timed, they say where a slow answer spent its time.
_LOOP = "songji_event_loop_lag_seconds"
_HTTP = "http_request_duration_seconds"
_LATE_MS = (5, 10, 25)


@dataclass
class Watch:
    """Counts of the two histograms between two scrapes: {histogram: {bound: count}}."""

    buckets: dict[str, dict[float, float]] = field(default_factory=dict)

    @staticmethod
    def parse(text: str) -> dict[str, dict[float, float]]:
        found: dict[str, dict[float, float]] = {_LOOP: {}, _HTTP: {}}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if not sample.name.endswith("_bucket"):
                    continue
                name = sample.name.removesuffix("_bucket")
                if name == _LOOP or (name == _HTTP and sample.labels.get("handler") == "/ledger"):
                    found[name][float(sample.labels["le"])] = sample.value
        return found

    @classmethod
    def between(cls, before: str, after: str) -> Watch:
        a, b = cls.parse(after), cls.parse(before)
        return cls({name: {le: n - b[name].get(le, 0.0) for le, n in a[name].items()}
                    for name in a})

    def __add__(self, other: Watch) -> Watch:
        names = self.buckets.keys() | other.buckets.keys()
        return Watch({name: {le: self.buckets.get(name, {}).get(le, 0.0)
                                 + other.buckets.get(name, {}).get(le, 0.0)
                             for le in self.buckets.get(name, {}).keys()
                             | other.buckets.get(name, {}).keys()}
                      for name in names})

    def late(self, name: str) -> dict[str, Any]:
        """How many observations, and the share of them above each of ``_LATE_MS``."""
        counts = self.buckets.get(name, {})
        total = counts.get(float("inf"), 0.0)
        share = {f"over_{ms}_ms": (total - counts.get(ms / 1000, total)) / total if total
                 else None for ms in _LATE_MS}
        return {"observed": int(total), **share}

    def summary(self) -> dict[str, Any]:
        return {"event_loop_lag": self.late(_LOOP), "ledger_request_in_app": self.late(_HTTP)}


async def _scrape(api: httpx.AsyncClient) -> str:
    response = await api.get("/metrics")
    response.raise_for_status()
    return response.text


def _input_row(env: Envelope) -> tuple[Any, ...]:
    """The row ``records.log_input`` keeps of a consumed event (class, worker and roster as
    ``class_of`` / ``worker_of`` give them for these types)."""
    data = env.data
    roster = [t["worker_id"] for t in data["trainees"]] \
        if env.type == ClassCompleted.ce_type() else []
    return (env.id, env.source, env.type, env.subject, env.stream_version or 0, env.time, data,
            data.get("class_id"), data.get("worker_id"), roster)


def _chunks(classes: int, clock: Clock) -> Iterator[tuple[list[tuple[Any, ...]], list[str]]]:
    """The history, a chunk of classes at a time: (input log rows, the chunk's trainees)."""
    for first in range(0, classes, CLASSES_PER_CHUNK):
        rows: list[tuple[Any, ...]] = []
        workers: set[str] = set()
        for index in range(first, min(first + CLASSES_PER_CHUNK, classes)):
            for _, env in class_envelopes(index, SHAPE, clock, prefix="prov"):
                row = _input_row(env)
                rows.append(row)
                if row[8] is not None:
                    workers.add(row[8])
        yield rows, sorted(workers)


async def write_province(dsn: str, trainees: int, progress: Callable[[str], None]
                         ) -> tuple[int, int]:
    """The history of ``trainees`` (whole classes of 50) in funding's input log and the
    ledger funding derives from it; returns (classes, input events)."""
    classes = -(-trainees // SHAPE.trainees)
    pool = await create_pool(dsn, max_size=2)
    store = EventStore(pool)
    clock = Clock()
    events = 0
    try:
        async with pool.acquire() as conn:
            await conn.execute(_INSERT_INPUT, *_input_row(body_envelope(clock)[1]))
            events += 1
            done = 0
            for rows, workers in _chunks(classes, clock):
                async with conn.transaction():
                    await conn.executemany(_INSERT_INPUT, rows)
                    await recompute(conn, store, workers, META)
                events += len(rows)
                done += CLASSES_PER_CHUNK
                if done % 400 == 0:
                    progress(f"    {min(done, classes):,} of {classes:,} classes")
    finally:
        await pool.close()
    return classes, events


@contextlib.asynccontextmanager
async def funding_service(server_url: str, bootstrap: str, name: str
                          ) -> AsyncIterator[tuple[str, str, dict[str, str]]]:
    """Funding in a process of its own on a fresh database: (url, dsn, HR's headers)."""
    tag = f"bench{os.getpid()}{name}"
    state_dir = Path(tempfile.mkdtemp(prefix="songji-bench-"))
    launcher = Launcher(postgres_url=server_url, kafka_bootstrap=bootstrap, state_dir=state_dir,
                        topic_prefix=tag, database_prefix=tag,
                        extra_env={"SONGJI_LOG_LEVEL": "WARNING"})
    try:
        process = (await launcher.start(["funding"]))["funding"]
        hr = {"Authorization": f"Bearer {dev_tokens(state_dir)['hr-bureau']}"}
        yield process.url, process.dsn, hr
    finally:
        launcher.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


async def _post(api: httpx.AsyncClient, path: str, hr: dict[str, str],
                body: dict) -> httpx.Response:
    response = await api.post(path, headers=hr, json=body)
    if response.status_code not in (201, 202):
        raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:500]}")
    return response


async def _job_state(api: httpx.AsyncClient, hr: dict[str, str], location: str) -> str:
    response = await api.get(location, headers=hr)
    response.raise_for_status()
    state = response.json()["state"]
    if state == "failed":
        raise RuntimeError(f"{location} failed: {response.text[:500]}")
    return state


async def _publish_and_wait(api: httpx.AsyncClient, hr: dict[str, str], body: dict) -> None:
    """Publish a policy and wait until its recompute job is done."""
    location = (await _post(api, "/policies", hr, body)).headers["Location"]
    for _ in range(36_000):  # polled, since the job is another process's: at most 2 hours
        if await _job_state(api, hr, location) == "done":
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{location} not done after 2 hours")


async def _relay_caught_up(dsn: str, seconds: float = 600) -> None:
    """Wait until the service's relay has published everything in funding's store."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            head = await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
            published = await conn.fetchval(
                "SELECT coalesce(min(position), 0) FROM relay_checkpoint")
            if published >= head:
                return
            await asyncio.sleep(0.5)
        raise RuntimeError("funding's relay did not catch up")
    finally:
        await conn.close()


async def _budget_and_batch(api: httpx.AsyncClient, dsn: str, hr: dict[str, str]) -> int:
    """One allocation of about half of what is due, then one batch of the first funded lines
    approved; returns how many lines the ledger holds."""
    conn = await asyncpg.connect(dsn)
    try:
        lines, due = await conn.fetchrow(
            "SELECT count(*), coalesce(sum(payable_fen), 0) FROM funding_ledger")
    finally:
        await conn.close()
    await _post(api, "/budget/allocations", hr, {
        "allocation_id": "alloc-province", "fund": FUND, "amount_fen": max(int(due) // 2, 1)})
    conn = await asyncpg.connect(dsn)
    try:
        approved = [r[0] for r in await conn.fetch(
            """SELECT line_id FROM funding_ledger WHERE status = 'due'
               ORDER BY queued_at, line_id COLLATE "C" LIMIT $1""", MAX_BATCH_LINES)]
    finally:
        await conn.close()
    await _post(api, "/batches", hr, {"batch_id": "batch-province-1", "line_ids": approved})
    return lines


async def _analyse(dsn: str) -> None:
    """Vacuum and analyse after the bulk load, as autovacuum would in time: otherwise it
    runs during the timed reads (at one size and not the other) and the planner reads the
    tables with the statistics of the empty ones."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def _samples(dsn: str, rng: random.Random, requests: int) -> dict[str, list[str]]:
    """What each request names: classes, workers and lines drawn from the whole province."""
    conn = await asyncpg.connect(dsn)
    try:
        classes = [r[0] for r in await conn.fetch(
            "SELECT DISTINCT class_id FROM funding_ledger")]
        workers = [r[0] for r in await conn.fetch(
            "SELECT worker_id FROM funding_ledger TABLESAMPLE BERNOULLI (5)")]
        lines = [r[0] for r in await conn.fetch(
            "SELECT line_id FROM funding_ledger TABLESAMPLE BERNOULLI (5)")]
    finally:
        await conn.close()
    n = requests + WARM_UP
    return {"ledger_by_class": [f"/ledger?limit=100&class_id={c}"
                                for c in rng.choices(classes, k=n)],
            "ledger_by_worker": [f"/ledger?limit=100&worker_id={w}"
                                 for w in rng.choices(workers, k=n)],
            "budget": ["/budget"] * n,
            "line": [f"/ledger/{x}" for x in rng.choices(lines, k=n)]}


async def _time_reads(url: str, hr: dict[str, str], paths: list[str]) -> Timings:
    """``paths`` requested by ``CONCURRENCY`` clients (one connection each), each sending its
    next as soon as it has an answer; the first ``WARM_UP`` are not kept."""
    timings = Timings()
    queue = iter(enumerate(paths))
    clients = [httpx.AsyncClient(base_url=url, timeout=120, headers=hr,
                                 limits=httpx.Limits(max_connections=1))
               for _ in range(CONCURRENCY)]

    async def sender(client: httpx.AsyncClient) -> None:
        for i, path in queue:
            started = time.perf_counter()
            response = await client.get(path)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                reason = str(response.status_code)
                timings.failed[reason] = timings.failed.get(reason, 0) + 1
            if i >= WARM_UP:
                timings.latencies_ms.append(elapsed)

    # The clients are the instrument: a collection of the benchmark's own heap while an
    # answer waits in its socket would be timed as the service's (up to tens of ms, set off
    # by making the clients). Collected before, none while the reads are timed.
    gc.collect()
    gc.disable()
    try:
        await asyncio.gather(*(c.get("/health") for c in clients))
        await asyncio.gather(*(sender(c) for c in clients))
    finally:
        gc.enable()
        await asyncio.gather(*(c.aclose() for c in clients))
    return timings


@dataclass
class Province:
    """One province's funding service, set up and ready to be read."""

    trainees: int
    url: str
    dsn: str
    hr: dict[str, str]
    classes: int
    input_events: int
    lines: int
    setup_seconds: float
    samples: dict[str, list[str]]


async def _set_up(url: str, dsn: str, hr: dict[str, str], trainees: int, requests: int,
                  progress: Callable[[str], None]) -> Province:
    async with httpx.AsyncClient(base_url=url, timeout=3600) as api:
        started = time.perf_counter()
        await _publish_and_wait(api, hr, policy_body())
        classes, events = await write_province(dsn, trainees, progress)
        lines = await _budget_and_batch(api, dsn, hr)
        await _relay_caught_up(dsn)
        await _analyse(dsn)
        setup = time.perf_counter() - started
    progress(f"    set up in {setup:.0f}s: {classes:,} classes, {events:,} input "
             f"events, {lines:,} lines")
    samples = await _samples(dsn, random.Random(trainees), requests)
    return Province(trainees=classes * SHAPE.trainees, url=url, dsn=dsn, hr=hr,
                    classes=classes, input_events=events, lines=lines, setup_seconds=setup,
                    samples=samples)


async def _interleaved_reads(provinces: list[Province], requests: int
                             ) -> tuple[dict[int, dict[str, Timings]], dict[int, Watch]]:
    """Each read's ``requests`` against every province, in rounds of ``ROUND_READS`` that
    alternate between the provinces (the first of a round changes each round): whatever the
    machine does meanwhile (another process, a cache warming, the clock of a shared host)
    falls on both sizes alike, so their ratio measures the size and not the minute. With each
    province's own view of its worker ledger rounds (the quiet figure of the job's)."""
    timings = {p.trainees: {name: Timings() for name in READS} for p in provinces}
    watches = {p.trainees: Watch() for p in provinces}
    scrapers = {p.trainees: httpx.AsyncClient(base_url=p.url) for p in provinces}
    try:
        for name in READS:
            watched = name == "ledger_by_worker"
            for n, start in enumerate(range(0, requests, ROUND_READS)):
                for province in provinces if n % 2 == 0 else provinces[::-1]:
                    scraper = scrapers[province.trainees]
                    before = await _scrape(scraper) if watched else ""
                    paths = province.samples[name][start:start + ROUND_READS + WARM_UP]
                    batch = await _time_reads(province.url, province.hr, paths)
                    timings[province.trainees][name].add(batch)
                    if watched:
                        watches[province.trainees] += Watch.between(before,
                                                                    await _scrape(scraper))
    finally:
        await asyncio.gather(*(c.aclose() for c in scrapers.values()))
    return timings, watches


async def _job_with_reads(province: Province) -> tuple[float, float, Timings, Watch]:
    """Publish a policy version that changes every certified trainee's line, then read the
    worker ledger while its job runs, until the job is done: (seconds to done, seconds to
    the publication's answer, the reads, the service's own view of that time)."""
    hr, url = province.hr, province.url
    changed = policy_body()
    changed["training_subsidies"] = [
        {**s, "amount_fen": s["amount_fen"] + 10_000} for s in changed["training_subsidies"]]
    async with httpx.AsyncClient(base_url=url, timeout=3600) as api:
        before = await _scrape(api)
        # The policy's answer comes at once (202); its job re-derives the lines in chunks
        # while the worker ledger is read, until the job says done.
        published = time.perf_counter()
        location = (await _post(api, "/policies", hr, changed)).headers["Location"]
        answered = time.perf_counter() - published
        during = Timings()
        running, done_at = True, None
        while running:  # at least one round of reads, however soon the job is done
            running = await _job_state(api, hr, location) != "done"
            if not running:
                done_at = time.perf_counter()
            during.add(await _time_reads(
                url, hr, province.samples["ledger_by_worker"][:WARM_UP + 40]))
        watch = Watch.between(before, await _scrape(api))
    return (done_at or time.perf_counter()) - published, answered, during, watch


async def bench_provinces(server_url: str, bootstrap: str, *, sizes: tuple[int, int],
                          requests: int = FULL_REQUESTS,
                          progress: Callable[[str], None]) -> dict[int, ProvinceRun]:
    """Both provinces set up side by side (a funding service and a database each), their
    reads timed in alternating rounds, then each one's policy job with reads meanwhile."""
    async with contextlib.AsyncExitStack() as stack:
        provinces: list[Province] = []
        for trainees in sizes:
            progress(f"  {trainees:,} trainees: writing the history to funding's input log "
                     "and ledger")
            url, dsn, hr = await stack.enter_async_context(
                funding_service(server_url, bootstrap, f"prov{trainees}"))
            provinces.append(await _set_up(url, dsn, hr, trainees, requests, progress))
        progress(f"  reads: {requests:,} of each, in rounds of {ROUND_READS} alternating "
                 "between the provinces")
        reads, quiet_watches = await _interleaved_reads(provinces, requests)
        runs = {}
        for province in provinces:
            progress(f"  {province.trainees:,} trainees: a policy version, read while its "
                     "job runs")
            policy_seconds, answered, during, watch = await _job_with_reads(province)
            conn = await asyncpg.connect(province.dsn)
            try:
                after = await conn.fetchval("SELECT count(*) FROM funding_ledger")
            finally:
                await conn.close()
            runs[province.trainees] = ProvinceRun(
                trainees=province.trainees, classes=province.classes,
                input_events=province.input_events, lines=province.lines,
                setup_seconds=province.setup_seconds, reads=reads[province.trainees],
                policy_seconds=policy_seconds, policy_lines=after - province.lines,
                policy_answered_seconds=answered, reads_during_job=during,
                watch_quiet=quiet_watches[province.trainees], watch_during_job=watch)
    return runs
