"""Does an attendance command slow down as its class's history grows?

Two classes with the same schedule and roster (``trainees`` workers, enough sessions for the
larger history and the measured commands, all held already): one is given ``small`` attendance
records, the other ``large``, through the HTTP API (so the history lies in whatever streams the
service keeps attendance in). Then attendance commands are sent one at a time, alternating
between the two classes, each for a session and trainee not yet recorded: the median time of
each class's commands, and their ratio.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from bench.training_api import (
    Answers,
    attendance,
    build_history,
    events_naming,
    open_class,
    record,
    training_service,
    warm_up,
)


@dataclass(frozen=True)
class GrowthResult:
    small: Answers
    large: Answers
    small_events: int  # events naming each class when the measurement began
    large_events: int
    history_seconds: float  # building both histories (not timed as part of the figure)


async def bench_growth(server_url: str, bootstrap: str, *, small: int, large: int,
                       requests: int, trainees: int = 200,
                       progress: Callable[[str], None] = print) -> GrowthResult:
    history_sessions = -(-large // trainees)
    sessions = history_sessions + -(-requests // trainees)
    async with training_service(server_url, bootstrap, "growth") as service, \
            httpx.AsyncClient(base_url=service.url, timeout=60) as api:
        await warm_up(api, service, requests=20)
        classes = {size: await open_class(api, service, f"history-{size}", trainees=trainees,
                                          sessions=sessions) for size in (small, large)}
        started = time.perf_counter()
        for size, cls in classes.items():
            progress(f"  writing {size:,} attendance records to {cls.class_id} through the API")
            await build_history(api, service, cls, size)
        history_seconds = time.perf_counter() - started
        progress(f"  histories written in {history_seconds:.0f}s")
        counted = {size: await events_naming(service, cls.class_id)
                   for size, cls in classes.items()}
        answers = {size: Answers() for size in classes}
        for i in range(requests):
            session, worker = divmod(i, trainees)
            for size, cls in classes.items():
                await record(api, service.institution, cls.class_id,
                             attendance(cls.sessions[history_sessions + session],
                                        cls.workers[worker]), answers[size])
    for size, got in answers.items():
        if got.refused:
            raise RuntimeError(f"attendance in the class with {size} events refused: "
                               f"{got.refused}")
    return GrowthResult(answers[small], answers[large], counted[small], counted[large],
                        history_seconds)
