"""Attendance commands per second over HTTP, against a bare route doing one INSERT each.

Training (its own process, ``bench/training_api.py``) has ``classes`` approved classes of
``trainees`` each. ``concurrency`` senders, each with an HTTP client of one connection
(``senders``), send their next command as soon as they have an answer. The commands go
round the classes (command k to class k mod ``classes``), every one a trainee's first record
at the round's session, so none is refused for a domain rule. The ceiling
(``bench/ceiling_app.py``) gets the very same requests. A round is one pass of each, the
ceiling first; the median round counts. The rate is of accepted commands (201): a refused
one is work that recorded nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.ceiling_app import DSN_ENV, PORT_ENV
from bench.training_api import (
    Answers,
    attendance,
    open_class,
    record_all,
    senders,
    training_service,
    warm_up,
)
from shared.infra.ports import free_port_block
from shared.infra.postgres import create_database


@dataclass(frozen=True)
class ThroughputRound:
    service: Answers
    service_seconds: float
    ceiling: Answers
    ceiling_seconds: float

    @property
    def service_rate(self) -> float:
        return self.service.accepted / self.service_seconds

    @property
    def ceiling_rate(self) -> float:
        return self.ceiling.accepted / self.ceiling_seconds


@dataclass(frozen=True)
class ThroughputResult:
    rounds: list[ThroughputRound]

    @property
    def service_rate(self) -> float:
        return statistics.median(r.service_rate for r in self.rounds)

    @property
    def ceiling_rate(self) -> float:
        return statistics.median(r.ceiling_rate for r in self.rounds)

    @property
    def refused(self) -> int:
        return sum(r.service.refused_count for r in self.rounds)

    @property
    def sent(self) -> int:
        return sum(len(r.service.latencies_ms) for r in self.rounds)


def _spawn_ceiling(dsn: str, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    log = Path(tempfile.mkstemp(prefix="songji-bench-ceiling-", suffix=".log")[1])
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.ceiling_app"],
            env={**os.environ, DSN_ENV: dsn, PORT_ENV: str(port)}, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    return process, log


def _stop_ceiling(process: subprocess.Popen[bytes], log: Path) -> str:
    """Stops the process; what it logged."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    logged = log.read_text(errors="replace") if log.exists() else ""
    log.unlink(missing_ok=True)
    return logged


@contextlib.asynccontextmanager
async def ceiling_server(dsn: str) -> AsyncIterator[str]:
    """The ceiling app in a process of its own; its URL once it answers."""
    port = free_port_block(1)
    process, log = _spawn_ceiling(dsn, port)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=2) as probe:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"the ceiling app exited: {_stop_ceiling(process, log)[-2000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await probe.get(f"{url}/ready")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError("the ceiling app did not answer within 60s")
                await asyncio.sleep(0.2)
        yield url
    finally:
        _stop_ceiling(process, log)


async def bench_throughput(server_url: str, bootstrap: str, *, classes: int, trainees: int,
                           concurrency: int, rounds: int,
                           progress: Callable[[str], None] = print) -> ThroughputResult:
    ceiling_dsn = await create_database(server_url, f"bench{os.getpid()}_ceiling")
    results = []
    async with training_service(server_url, bootstrap, "throughput") as service, \
            httpx.AsyncClient(base_url=service.url, timeout=60) as api, \
            ceiling_server(ceiling_dsn) as ceiling_url, \
            senders(service.url, concurrency) as to_service, \
            senders(ceiling_url, concurrency) as to_ceiling:
        await warm_up(api, service, requests=concurrency)
        opened = [await open_class(api, service, f"busy-{c:02d}", trainees=trainees,
                                   sessions=rounds) for c in range(classes)]
        for r in range(rounds):
            commands = [(cls.class_id, attendance(cls.sessions[r], cls.workers[t]))
                        for t in range(trainees) for cls in opened]
            if r == 0:  # the ceiling's first requests, outside any round
                await record_all(to_ceiling, service.institution, commands[:concurrency])
            ceiling, ceiling_seconds = await record_all(to_ceiling, service.institution,
                                                        commands)
            answers, seconds = await record_all(to_service, service.institution, commands)
            results.append(ThroughputRound(answers, seconds, ceiling, ceiling_seconds))
            progress(f"  round {r + 1}: training {results[-1].service_rate:,.0f}/s "
                     f"({answers.refused_count} refused), ceiling "
                     f"{results[-1].ceiling_rate:,.0f}/s")
    return ThroughputResult(results)
