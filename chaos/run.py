"""One chaos run: the load played on a clean system, then again on a second system while the
fault injector works; the second is checked against the first and against itself."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from chaos import bus, driver, faults, malformed, report, snapshot, verdict
from chaos.client import ChaosDepartments
from chaos.system import RunSystem, start_run
from shared.eventsourcing.topics import dead_letter_topic
from shared.infra.kafka import EmbeddedKafka
from shared.infra.provision import postgres_server
from songji.demo import scenario as sc
from songji.demo.steps import HR


@dataclass(frozen=True)
class Options:
    workers: int = 149
    seed: int = 2025
    pause: tuple[float, float] = (2.0, 7.0)  # between faults, seconds
    settle_seconds: float = 180.0
    json_out: Path | None = None
    request_kills: int | None = None  # funding commands killed mid-request; None: half
    outage_seconds: float = 30.0  # how long each service's database is away
    replicas: int = 1  # copies of each service; above 1, the relays' holders are killed too


async def settle(system: RunSystem, worker_ids: dict[int, str], seconds: float,
                 answers: dict[str, httpx.Response]) -> snapshot.Snapshot:
    """Wait until every consumer has applied every event it handles, then a little more for
    anything still in flight, and take the snapshot."""
    deadline = time.monotonic() + seconds
    while True:
        snap = await _snapshot(system, worker_ids, answers)
        pending = verdict.Verdict()
        verdict._inboxes(pending, snap)
        if not pending.lost or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    await asyncio.sleep(3.0)
    return await _snapshot(system, worker_ids, answers)


async def _snapshot(system: RunSystem, worker_ids: dict[int, str],
                    answers: dict[str, httpx.Response]) -> snapshot.Snapshot:
    return await snapshot.take(system.urls, system.dsns, system.tokens[HR], worker_ids,
                               system.messages_file, answers)


async def dead_letters(system: RunSystem, broker: EmbeddedKafka,
                       injected: list[malformed.Malformed], seconds: float,
                       ) -> malformed.DeadLetterCheck:
    deadline = time.monotonic() + seconds
    while True:
        letters = await bus.read_all(broker.bootstrap_servers,
                                     [dead_letter_topic(system.topic_prefix)], quiet_ms=800)
        check = malformed.check_dead_letters(injected, letters)
        if not check.missing or time.monotonic() > deadline:
            return check
        await asyncio.sleep(1.0)


async def clean_run(options: Options, scenario: sc.Scenario, pg_url: str,
                    broker: EmbeddedKafka, root: Path) -> snapshot.Snapshot:
    system = await start_run("clean", postgres_url=pg_url, broker=broker, root=root)
    try:
        async with ChaosDepartments(system.urls, system.tokens) as api:
            run = await driver.play(api, scenario)
        snap = await settle(system, run.worker_ids, options.settle_seconds,
                            api.funding_answers)
        snapshot.dump(snap, root / "clean.json")
        return snap
    finally:
        system.launcher.stop()


async def chaos_run(options: Options, scenario: sc.Scenario, pg_url: str,
                    broker: EmbeddedKafka, root: Path, clean: snapshot.Snapshot,
                    started: float) -> int:
    system = await start_run("chaos", postgres_url=pg_url, broker=broker, root=root,
                             replicas=options.replicas)
    rng = random.Random(options.seed)
    injector = faults.Injector(system, broker, rng,
                               faults.plan(rng, pause=options.pause,
                                           replicas=options.replicas),
                               outage_seconds=options.outage_seconds)
    injector.counts["outage seconds"] = round(options.outage_seconds)
    # A generator of its own, so that the plan above stays what it was for a given seed.
    request_rng = random.Random(f"{options.seed}-requests")
    request_faults = faults.RequestFaults(system, request_rng, injector.counts, injector.note,
                                          faults.plan_requests(request_rng,
                                                               options.request_kills))
    print("faults, as they happen:", flush=True)
    task: asyncio.Task | None = None

    async def start_faults() -> None:
        nonlocal task
        task = asyncio.create_task(injector.run(), name="fault-injector")

    async def recovered() -> None:
        assert task is not None
        await task
        await system.launcher.wait_ready(90)

    try:
        async with ChaosDepartments(system.urls, system.tokens) as api:
            api.request_faults = request_faults
            run = await driver.play(api, scenario, load_starts=start_faults,
                                    before_payment=recovered)
        if task is not None and not task.done():
            await task
        snap = await settle(system, run.worker_ids, options.settle_seconds,
                            api.funding_answers)
        snapshot.dump(snap, root / "chaos.json")
        dead = await dead_letters(system, broker, injector.malformed, 60)
    finally:
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        system.launcher.stop()
    judged = verdict.judge(clean, snap, dead)
    print()
    print(report.table(injector.counts, snap, judged, dead, api.lost_answers,
                       api.taken_as_done, api.replayed, injector.failovers))
    seconds = time.monotonic() - started
    if options.json_out:
        options.json_out.parent.mkdir(parents=True, exist_ok=True)
        options.json_out.write_text(json.dumps(
            report.as_json(injector.counts, snap, judged, dead, seconds, options.workers,
                           options.seed, injector.failovers), indent=2, ensure_ascii=False))
    print(f"\n{options.workers} workers, seed {options.seed}: {seconds:.1f}s in all. "
          + ("Nothing lost, nothing duplicated." if judged.ok
             else "FAILED: something was lost or duplicated."))
    return 0 if judged.ok else 1


async def main(options: Options) -> int:
    started = time.monotonic()
    scenario = sc.build(options.workers, options.seed)
    root = Path(tempfile.mkdtemp(prefix="songji-chaos-"))
    print(f"Chaos run: {options.workers} workers, seed {options.seed}, {options.replicas} "
          f"cop{'y' if options.replicas == 1 else 'ies'} of each service; state and service "
          f"logs in {root}")
    with postgres_server() as pg_url, EmbeddedKafka(log_dir=root) as broker:
        print("clean run of the load...", flush=True)
        clean = await clean_run(options, scenario, pg_url, broker, root)
        print(f"clean run done ({time.monotonic() - started:.1f}s): {clean.events_total} "
              f"events, {len(clean.ledger)} ledger lines", flush=True)
        return await chaos_run(options, scenario, pg_url, broker, root, clean, started)
