"""Latency from ``SkillLevelCertified`` appended to assessment's store to the training subsidy
line in funding's ledger, under background load.

The path is the real one: assessment's event store -> its relay -> the broker -> funding (its
own process, started as ``songji up`` starts it) -> funding's inbox, input log, ledger table
and payout event, committed in one transaction. Funding's append notifies at commit, so this
process LISTENs on funding's database and reads the new ``PayoutDue`` lines when woken: a line
is counted when it is committed and readable, not when a poll happens to see it.

Set-up (not timed): the HR bureau publishes a policy through funding's API; classes are
scheduled, attended and completed in training's store, with one assessment each. Then
certifications are appended at a steady rate while attendance for other, running classes is
appended in the background (funding consumes and re-derives for each of those too).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import httpx

from bench.history import BODY, MINUTES, OCCUPATION, SITE, policy_body
from bench.timing import percentile
from shared.contracts import Metadata
from shared.contracts.assessment import (
    AssessmentBodyRegistered,
    AssessmentScheduled,
    SkillLevelCertified,
)
from shared.contracts.training import (
    AttendanceRecorded,
    ClassCompleted,
    ClassScheduled,
    SessionPlan,
    TraineeOutcome,
)
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.migrations import KIT_MIGRATIONS, apply_migrations, migration_files
from shared.eventsourcing.relay import Relay
from shared.eventsourcing.signing import SigningKey
from shared.eventsourcing.store import NOTIFY_CHANNEL, EventStore
from shared.eventsourcing.topics import events_topic
from shared.infra.dev_organisations import dev_tokens
from shared.infra.postgres import create_database
from shared.infra.signing_keys import private_keys
from songji.launcher import Launcher

TRAINEES = 30
SESSIONS = 4
FIRST = date(2025, 3, 3)
META = Metadata(correlation_id="bench-latency")
PAYOUT_DUE = "songji.funding.PayoutDue.v1"


@dataclass(frozen=True)
class LatencyResult:
    certifications: int
    observed: int
    background_events: int
    latencies_ms: list[float]

    def quantile(self, q: float) -> float:
        return percentile(sorted(self.latencies_ms), q)


def _sessions() -> list[SessionPlan]:
    return [SessionPlan(session_id=f"s{i}", date=FIRST + timedelta(days=i),
                        start_local="19:00", end_local="23:00",
                        kind="practical_on_the_job", minutes=MINUTES) for i in range(SESSIONS)]


def _scheduled(class_id: str) -> ClassScheduled:
    return ClassScheduled(class_id=class_id, institution_id="inst-1",
                          occupation_code=OCCUPATION, target_level=4, site=SITE, mode="night",
                          capacity=TRAINEES, sessions=_sessions(),
                          required_minutes=MINUTES * SESSIONS, trainer_ids=["trainer-1"])


def _attendance(class_id: str, worker: str, i: int, tag: str = "") -> AttendanceRecorded:
    return AttendanceRecorded(attendance_id=f"a-{worker}-{i}{tag}", class_id=class_id,
                              session_id=f"s{i % SESSIONS}",
                              session_date=FIRST + timedelta(days=i % SESSIONS),
                              worker_id=worker, minutes=MINUTES, method="face_check")


async def _setup_classes(training: EventStore, assessment: EventStore, classes: int,
                         prefix: str) -> list[tuple[str, str]]:
    """Completed classes with full attendance; returns (class id, worker) to certify."""
    await assessment.append(f"body-{BODY}", 0, [AssessmentBodyRegistered(
        body_id=BODY, name="阜康职业技能鉴定站")], META)
    out = []
    for c in range(classes):
        class_id = f"{prefix}-c{c}"
        workers = [f"{prefix}-w{c}-{t}" for t in range(TRAINEES)]
        events = [_scheduled(class_id)] + [
            _attendance(class_id, w, i) for i in range(SESSIONS) for w in workers]
        events.append(ClassCompleted(
            class_id=class_id, institution_id="inst-1", occupation_code=OCCUPATION,
            target_level=4, site=SITE, first_session_date=FIRST,
            completed_on=FIRST + timedelta(days=SESSIONS - 1), threshold_percent=80,
            trainees=[TraineeOutcome(worker_id=w, attended_minutes=MINUTES * SESSIONS,
                                     required_minutes=MINUTES * SESSIONS,
                                     attendance_ratio=1.0, met_threshold=True)
                      for w in workers]))
        await training.append(f"class-{class_id}", 0, events, META)
        await assessment.append(f"assessment-as-{class_id}", 0, [AssessmentScheduled(
            assessment_id=f"as-{class_id}", body_id=BODY, class_id=class_id,
            occupation_code=OCCUPATION, level=4, assessor_ids=["assessor-1"],
            candidate_ids=workers, scheduled_on=FIRST + timedelta(days=SESSIONS + 2))], META)
        out += [(class_id, w) for w in workers]
    return out


def _certificate(class_id: str, worker: str) -> SkillLevelCertified:
    return SkillLevelCertified(
        certificate_id=f"cert-{worker}", certificate_number=f"N-{worker}", worker_id=worker,
        occupation_code=OCCUPATION, level=4, body_id=BODY, assessment_id=f"as-{class_id}",
        class_id=class_id, certified_on=FIRST + timedelta(days=SESSIONS + 3))


class PayoutWatcher:
    """Woken by funding's commit notifications; records when each worker's training subsidy
    line became readable."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.seen: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._position = 0

    async def start(self) -> None:
        self._position = await self.conn.fetchval(
            "SELECT coalesce(max(position), 0) FROM events")
        await self.conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.5)
            self._wake.clear()
            rows = await self.conn.fetch(
                """SELECT position, data->>'worker_id' AS worker FROM events
                   WHERE position > $1 AND event_type = $2
                     AND data->>'rule' = 'training_subsidy' ORDER BY position""",
                self._position, PAYOUT_DUE)
            now = time.perf_counter()
            for row in rows:
                self.seen.setdefault(row["worker"], now)
                self._position = row["position"]


async def _background(training: EventStore, prefix: str, per_second: float,
                      counter: list[int]) -> None:
    """Attendance for running (not yet completed) classes, in small appends every 20 ms."""
    tick, streams = 0.02, 20
    per_tick = max(1, round(per_second * tick))
    versions = [0] * streams
    i = 0
    while True:
        started = time.perf_counter()
        s = i % streams
        class_id = f"{prefix}-running{s}"
        if versions[s] == 0:
            await training.append(f"class-{class_id}", 0, [_scheduled(class_id)], META)
            versions[s] = 1
        batch = [_attendance(class_id, f"{prefix}-r{s}-{(i + k) % TRAINEES}", i + k, f"-{k}")
                 for k in range(per_tick)]
        await training.append(f"class-{class_id}", versions[s], batch, META)
        versions[s] += len(batch)
        counter[0] += len(batch)
        i += per_tick
        await asyncio.sleep(max(0.0, tick - (time.perf_counter() - started)))


async def _wait(check: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await check():  # type: ignore[misc]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {seconds:.0f}s")
        await asyncio.sleep(0.2)


async def bench_latency(server_url: str, bootstrap: str, *, certifications: int,
                        rate_per_second: float, background_per_second: float,
                        progress: Callable[[str], None] = print) -> LatencyResult:
    tag = f"bench{os.getpid()}"
    prefix = f"{tag}lat"
    pools, relays, tasks = [], [], []
    stores: dict[str, EventStore] = {}
    state_dir = Path(tempfile.mkdtemp(prefix="songji-bench-"))
    # The relays sign with the keys the launcher gives the services (funding checks them).
    keys = {s: SigningKey(k) for s, k in private_keys(state_dir).items()}
    for service in ("training", "assessment"):
        dsn = await create_database(server_url, f"{tag}_lat_{service}")
        pool = await create_pool(dsn, max_size=4)
        async with pool.acquire() as conn:
            await apply_migrations(conn, migration_files(KIT_MIGRATIONS))
        pools.append(pool)
        stores[service] = EventStore(pool)
        relays.append(Relay(stores[service], service=service, signer=keys[service],
                            bootstrap_servers=bootstrap,
                            topic=events_topic(service, prefix), probe_interval=60))
    launcher = Launcher(postgres_url=server_url, kafka_bootstrap=bootstrap,
                        state_dir=state_dir, topic_prefix=prefix, database_prefix=f"{tag}_lat",
                        extra_env={"SONGJI_LOG_LEVEL": "WARNING"})
    watcher_conn: asyncpg.Connection | None = None
    try:
        funding = (await launcher.start(["funding"]))["funding"]
        token = dev_tokens(state_dir)["hr-bureau"]
        async with httpx.AsyncClient(base_url=funding.url, timeout=10) as api:
            response = await api.post("/policies", json=policy_body(),
                                      headers={"Authorization": f"Bearer {token}"})
            response.raise_for_status()
        tasks += [asyncio.create_task(relay.run()) for relay in relays]

        classes = -(-certifications // TRAINEES)
        progress(f"  set-up: {classes} completed classes, {classes * TRAINEES} trainees")
        to_certify = (await _setup_classes(stores["training"], stores["assessment"], classes,
                                           prefix))[:certifications]
        watcher_conn = await asyncpg.connect(funding.dsn)
        workers = len(to_certify) if certifications % TRAINEES == 0 else classes * TRAINEES

        async def living_lines() -> bool:
            assert watcher_conn is not None
            n = await watcher_conn.fetchval(
                "SELECT count(*) FROM funding_ledger WHERE rule = 'living_subsidy'")
            return n >= workers
        await _wait(living_lines, 300, "funding consuming the set-up")

        watcher = PayoutWatcher(watcher_conn)
        await watcher.start()
        tasks.append(asyncio.create_task(watcher.run()))
        background = [0]
        tasks.append(asyncio.create_task(
            _background(stores["training"], prefix, background_per_second, background)))
        progress(f"  {certifications} certifications at {rate_per_second:g}/s, "
                 f"background attendance at {background_per_second:g}/s")
        appended: dict[str, float] = {}
        started = time.perf_counter()
        for i, (class_id, worker) in enumerate(to_certify):
            delay = started + i / rate_per_second - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await stores["assessment"].append(f"certificate-cert-{worker}", 0,
                                              [_certificate(class_id, worker)], META)
            appended[worker] = time.perf_counter()
            if (i + 1) % 250 == 0:
                progress(f"  {i + 1} certified, {len(watcher.seen)} lines seen")

        async def all_seen() -> bool:
            return all(w in watcher.seen for w in appended)
        with contextlib.suppress(TimeoutError):
            await _wait(all_seen, 60, "every training subsidy line")
        latencies = [(watcher.seen[w] - t) * 1000 for w, t in appended.items()
                     if w in watcher.seen]
        return LatencyResult(certifications=len(appended), observed=len(latencies),
                             background_events=background[0], latencies_ms=latencies)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for relay in relays:
            relay.stop()
        if watcher_conn is not None:
            await watcher_conn.close()
        launcher.stop()
        for pool in pools:
            await pool.close()
