"""Training as ``songji up`` runs it, for the benchmarks of its attendance command.

The service runs as its own process (uvicorn, started by the same ``Launcher`` as ``songji up``)
on the benchmark's PostgreSQL and broker, with organisations and bearer tokens made for the
run (``shared/infra/dev_organisations.py``): the HR bureau accredits the institution, the
institution schedules classes and the HR bureau approves them, all through the HTTP API.

Rosters are written straight into training's ``roster`` table, the projection its inbox keeps
from enrolment's ``WorkerEnrolled`` events (``services/training/projections.py``): enrolling
200 workers through enrolment would mean running it and its personal-data vault, and the
roster is what the attendance command reads, however the rows got there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx

from bench.timing import percentile
from shared.calendar import programme_today
from shared.infra.dev_organisations import dev_tokens
from songji.launcher import Launcher

INSTITUTION = "inst-1"  # the institution of dev organisation "institution-1"
SITE = {"province": "新疆", "city": "阜康市", "site_name": "阜康工业园"}
OCCUPATION = "electrician"
SESSION_MINUTES = 180  # 09:00-12:00
METHOD = "face_check"


@dataclass(frozen=True)
class TrainingService:
    url: str
    dsn: str  # training's own database
    hr: dict[str, str]  # the HR bureau's request headers
    institution: dict[str, str]  # the institution's


@dataclass(frozen=True)
class OpenClass:
    class_id: str
    sessions: list[str]  # session ids, in time order; every one already held
    workers: list[str]  # the roster


@dataclass
class Answers:
    """What a series of requests got back: latencies in ms, and the refusals by reason."""

    latencies_ms: list[float] = field(default_factory=list)
    accepted: int = 0
    refused: dict[str, int] = field(default_factory=dict)

    def add(self, started: float, status: int | None, code: str | None) -> None:
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        if status == 201:
            self.accepted += 1
        else:
            reason = f"{status} {code}" if status is not None else f"no answer: {code}"
            self.refused[reason] = self.refused.get(reason, 0) + 1

    @property
    def refused_count(self) -> int:
        return sum(self.refused.values())

    def quantile(self, q: float) -> float:
        return percentile(sorted(self.latencies_ms), q)

    def summary(self) -> dict[str, object]:
        return {"sent": len(self.latencies_ms), "accepted": self.accepted,
                "refused": self.refused, "p50_ms": self.quantile(50),
                "p95_ms": self.quantile(95), "p99_ms": self.quantile(99),
                "max_ms": max(self.latencies_ms, default=float("nan"))}


@contextlib.asynccontextmanager
async def training_service(server_url: str, bootstrap: str, name: str
                           ) -> AsyncIterator[TrainingService]:
    """Training in a process of its own, on a fresh database, with the institution
    accredited."""
    tag = f"bench{os.getpid()}{name}"
    state_dir = Path(tempfile.mkdtemp(prefix="songji-bench-"))
    launcher = Launcher(postgres_url=server_url, kafka_bootstrap=bootstrap, state_dir=state_dir,
                        topic_prefix=tag, database_prefix=tag,
                        extra_env={"SONGJI_LOG_LEVEL": "WARNING"})
    try:
        process = (await launcher.start(["training"]))["training"]
        tokens = dev_tokens(state_dir)
        service = TrainingService(
            url=process.url, dsn=process.dsn,
            hr={"Authorization": f"Bearer {tokens['hr-bureau']}"},
            institution={"Authorization": f"Bearer {tokens['institution-1']}"})
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as api:
            _expect(await api.post("/institutions", headers=service.hr, json={
                "institution_id": INSTITUTION, "name": "阜康职业技能培训学校",
                "occupations": [OCCUPATION], "sites": [SITE]}), 204)
        yield service
    finally:
        launcher.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


async def open_class(api: httpx.AsyncClient, service: TrainingService, class_id: str, *,
                     trainees: int, sessions: int) -> OpenClass:
    """A class scheduled and approved through the API, ``sessions`` sessions on the days
    before today (so every one has been held), ``trainees`` workers on its roster."""
    today = programme_today()
    days = [today - timedelta(days=sessions - i) for i in range(sessions)]
    _expect(await api.post("/classes", headers=service.institution, json={
        "class_id": class_id, "institution_id": INSTITUTION, "occupation_code": OCCUPATION,
        "target_level": 4, "site": SITE, "mode": "full_time", "capacity": trainees,
        "sessions": [{"date": day.isoformat(), "start_local": "09:00", "end_local": "12:00",
                      "kind": "practical_on_the_job"} for day in days],
        "required_minutes": SESSION_MINUTES * sessions}), 204)
    _expect(await api.post(f"/classes/{class_id}/approval", headers=service.hr), 204)
    workers = [f"{class_id}-w{i:03d}" for i in range(trainees)]
    conn = await asyncpg.connect(service.dsn)
    try:
        await conn.copy_records_to_table(
            "roster", columns=["enrolment_id", "class_id", "worker_id"],
            records=[(f"enrolment-{w}", class_id, w) for w in workers])
    finally:
        await conn.close()
    # Session ids by position in time order (services/training/domain/class_run.py).
    return OpenClass(class_id, [f"s{i:03d}" for i in range(1, sessions + 1)], workers)


def attendance(session_id: str, worker_id: str) -> dict[str, object]:
    return {"session_id": session_id, "worker_id": worker_id, "minutes": SESSION_MINUTES,
            "method": METHOD}


async def record(api: httpx.AsyncClient, headers: dict[str, str], class_id: str,
                 body: dict[str, object], answers: Answers) -> None:
    """One attendance command, timed from sending to the whole answer."""
    started = time.perf_counter()
    try:
        response = await api.post(f"/classes/{class_id}/attendance", headers=headers,
                                  json=body)
    except httpx.HTTPError as failed:
        answers.add(started, None, type(failed).__name__)
        return
    code = None
    if response.status_code != 201:
        with contextlib.suppress(ValueError, AttributeError):
            code = response.json().get("code")
    answers.add(started, response.status_code, code)


@contextlib.asynccontextmanager
async def senders(url: str, count: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    """``count`` HTTP clients of one connection each, the connection already open.

    One client per concurrent sender rather than one client with ``count`` connections:
    httpx's pool looks through its connections for each request, and with 32 of them that
    cost this process about 2.3 ms of CPU a request (0.65 ms with one each), which held the
    bare ceiling route to ~390 requests/s: the client, not the server, was measured. The
    connections are opened (``/health``) before anything is timed."""
    tls = ssl.create_default_context()  # one for all: each client would load its own
    clients = [httpx.AsyncClient(base_url=url, timeout=60, verify=tls,
                                 limits=httpx.Limits(max_connections=1,
                                                     max_keepalive_connections=1))
               for _ in range(count)]
    try:
        await asyncio.gather(*(client.get("/health") for client in clients))
        yield clients
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))


async def record_all(clients: Sequence[httpx.AsyncClient], headers: dict[str, str],
                     commands: Sequence[tuple[str, dict[str, object]]]
                     ) -> tuple[Answers, float]:
    """``commands`` (class id, body) sent by as many senders as ``clients``, each sending its
    next as soon as it has an answer; the answers and the seconds it all took."""
    answers = Answers()
    queue = iter(commands)

    async def sender(client: httpx.AsyncClient) -> None:
        for class_id, body in queue:
            await record(client, headers, class_id, body, answers)

    started = time.perf_counter()
    await asyncio.gather(*(sender(client) for client in clients))
    return answers, time.perf_counter() - started


async def warm_up(api: httpx.AsyncClient, service: TrainingService, *, requests: int) -> None:
    """A class of its own and ``requests`` attendance commands, so that what is measured
    next is not the first request of each code path."""
    warm = await open_class(api, service, "warm-up", trainees=requests, sessions=1)
    for worker in warm.workers:
        answers = Answers()
        await record(api, service.institution, warm.class_id,
                     attendance(warm.sessions[0], worker), answers)
        if answers.accepted != 1:
            raise RuntimeError(f"warm-up attendance refused: {answers.refused}")


async def build_history(api: httpx.AsyncClient, service: TrainingService, cls: OpenClass,
                        events: int) -> None:
    """``events`` attendance records in ``cls``, through the API, one after another: session
    by session, each session's trainees in roster order. Not timed."""
    for k in range(events):
        session, worker = divmod(k, len(cls.workers))
        answers = Answers()
        await record(api, service.institution, cls.class_id,
                     attendance(cls.sessions[session], cls.workers[worker]), answers)
        if answers.accepted != 1:
            raise RuntimeError(f"attendance {k} of {cls.class_id} refused: {answers.refused}")


async def events_naming(service: TrainingService, class_id: str) -> int:
    """Events in training's store about ``class_id``, whatever streams hold them."""
    conn = await asyncpg.connect(service.dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM events WHERE data->>'class_id' = $1",
                                   class_id)
    finally:
        await conn.close()


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                           f"{response.status_code} {response.text[:500]}")
