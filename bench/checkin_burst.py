"""A check-in burst: every trainee of a class checks in to the same session at once.

One approved class with ``trainees`` on its roster and one session already held; then one
``POST /classes/{id}/attendance`` per trainee, all sent together, each on a connection of its
own opened beforehand, with no retry by the client: trainees' phones checking in as the
session starts. Every answer other than 201 is a refused check-in, whatever the reason.

The same burst is then sent to the bare route of the throughput benchmark's ceiling (one
INSERT a request, ``bench/ceiling_app.py``) on the same machine: its p99 is what one server
process answering 200 requests at once costs before any of Songji's work, the floor under
the burst's p99.

Last, the same trainees' check-ins to a second class go as one session register
(``POST /classes/{id}/sessions/{session_id}/attendance``), the way a face-check terminal or the
platform's session log uploads a session: the time of that one request, and its lines
recorded.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

import httpx

from bench.command_throughput import ceiling_server
from bench.training_api import (
    Answers,
    TrainingService,
    attendance,
    events_naming,
    open_class,
    record,
    senders,
    training_service,
    warm_up,
)
from shared.infra.postgres import create_database


@dataclass(frozen=True)
class BurstResult:
    answers: Answers
    stored_events: int  # events in training's store naming the class, after the burst
    ceiling: Answers  # the same burst against the bare route
    register_ms: float  # the same check-ins as one session register, to another class
    register_recorded: int  # its lines answered "recorded"


async def bench_burst(server_url: str, bootstrap: str, *, trainees: int) -> BurstResult:
    ceiling_dsn = await create_database(server_url, f"bench{os.getpid()}_burst_ceiling")
    async with training_service(server_url, bootstrap, "burst") as service, \
            httpx.AsyncClient(base_url=service.url, timeout=60) as api, \
            ceiling_server(ceiling_dsn) as ceiling_url:
        await warm_up(api, service, requests=20)
        cls = await open_class(api, service, "burst", trainees=trainees, sessions=1)
        before = await events_naming(service, cls.class_id)
        answers = Answers()
        async with senders(service.url, trainees) as clients:
            await asyncio.gather(*(
                record(client, service.institution, cls.class_id,
                       attendance(cls.sessions[0], worker), answers)
                for client, worker in zip(clients, cls.workers, strict=True)))
        stored = await events_naming(service, cls.class_id) - before
        bare = Answers()
        async with senders(ceiling_url, trainees) as clients:
            await asyncio.gather(*(
                record(client, service.institution, cls.class_id,
                       attendance(cls.sessions[0], worker), Answers())
                for client, worker in zip(clients, cls.workers[:20], strict=False)))
            await asyncio.gather(*(
                record(client, service.institution, cls.class_id,
                       attendance(cls.sessions[0], worker), bare)
                for client, worker in zip(clients, cls.workers, strict=True)))
        register_ms, recorded = await _session_register(api, service, trainees)
    return BurstResult(answers, stored, bare, register_ms, recorded)


async def _session_register(api: httpx.AsyncClient, service: TrainingService, trainees: int
                            ) -> tuple[float, int]:
    """A class's session register of ``trainees`` check-ins in one request: milliseconds from
    sending to the whole answer, and the lines recorded."""
    cls = await open_class(api, service, "burst-register", trainees=trainees, sessions=1)
    session = cls.sessions[0]
    body = {"check_ins": [{k: v for k, v in attendance(session, worker).items()
                           if k != "session_id"} for worker in cls.workers]}
    started = time.perf_counter()
    response = await api.post(f"/classes/{cls.class_id}/sessions/{session}/attendance",
                              headers=service.institution, json=body)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"session register refused: {response.status_code} "
                           f"{response.text[:500]}")
    recorded = sum(line["outcome"] == "recorded" for line in response.json()["lines"])
    return elapsed_ms, recorded
