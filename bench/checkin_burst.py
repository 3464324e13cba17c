"""A check-in burst: every trainee of a class checks in to the same session at once.

One approved class with ``trainees`` on its roster and one session already held; then one
``POST /classes/{id}/attendance`` per trainee, all sent together, each on a connection of its
own opened beforehand, with no retry by the client: trainees' phones checking in as the
session starts. Every answer other than 201 is a refused check-in, whatever the reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from bench.training_api import (
    Answers,
    attendance,
    events_naming,
    open_class,
    record,
    senders,
    training_service,
    warm_up,
)


@dataclass(frozen=True)
class BurstResult:
    answers: Answers
    stored_events: int  # events in training's store naming the class, after the burst


async def bench_burst(server_url: str, bootstrap: str, *, trainees: int) -> BurstResult:
    async with training_service(server_url, bootstrap, "burst") as service, \
            httpx.AsyncClient(base_url=service.url, timeout=60) as api:
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
    return BurstResult(answers, stored)
