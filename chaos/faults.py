"""The fault injector: a seeded plan of faults, carried out while the load runs.

The plan, in a seeded order with seeded pauses: kill -9 each service once (a random moment,
a random time down, then a restart on the same port and database, not waiting for it to be
ready before the next fault), restart the broker empty
once, and re-produce what is on the topics twice: once while consumers are busy (every event
a second time, the streams mixed in a random cross-stream order) and once into the empty
broker right after its restart, before the relays republish (so consumers, whose committed
offsets went with the broker, read the shuffled copies first and the relays' copies after).
Malformed messages go on every topic after the broker's restart (the embedded broker keeps
the dead-letter topic in memory too; letters written before its restart would go with it).
Each service's database is taken away once, for a while (30 s; a few with ``--quick``), also
after the broker's restart so that a valid event wrongly dead-lettered meanwhile would still
be on the dead-letter topic to be counted: the database refuses connections and its sessions
are ended (``shared.infra.outage``), then it is back.

Funding's commands (the policy and budget at set-up, then the whole disbursement) get faults
of their own, on the requests themselves: see ``RequestFaults`` below.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn

import httpx
import structlog

from chaos import bus, malformed
from chaos.system import RunSystem
from shared.eventsourcing.topics import SERVICES, all_topics, ensure_topics, events_topic
from shared.infra.kafka import EmbeddedKafka
from shared.infra.outage import allow_connections, database_name, refuse_connections
from shared.infra.signing_keys import private_keys

log = structlog.get_logger(__name__)

KILL, BROKER, REPLAY, MALFORMED = ("kill -9 and restart a service", "restart the broker empty",
                                   "deliver every event again, cross-stream shuffled",
                                   "malformed message")
OUTAGE = "take a service's database away, then back"
RELAY_HOLDER = "kill -9 the copy running a relay, then restart it"
CONSUMER_COPY = "kill -9 a copy that only consumes, then restart it"
OUTAGE_REDELIVERED = 100  # events delivered again to the service's consumers during its outage


@dataclass
class Plan:
    steps: list[tuple[str, str]]  # (fault, target)
    pauses: list[float]


def plan(rng: random.Random, *, pause: tuple[float, float], replicas: int = 1) -> Plan:
    kills = [(KILL, s) for s in rng.sample(SERVICES, len(SERVICES))]
    if replicas > 1:  # each relay's holder killed once, and a standby copy of each
        kills += [(RELAY_HOLDER, s) for s in SERVICES] + [(CONSUMER_COPY, s) for s in SERVICES]
        rng.shuffle(kills)
    # The broker restarts somewhere among the kills; one replay before it, malformed after.
    at = rng.randrange(1, len(kills))
    steps = [*kills[:at], (BROKER, "broker"), *kills[at:]]
    steps.insert(rng.randrange(0, at + 1), (REPLAY, "topics"))
    steps.append((MALFORMED, "every topic"))
    # Each database away once, somewhere after the broker's restart (at + 1: the replay
    # was inserted before it).
    for service in rng.sample(SERVICES, len(SERVICES)):
        steps.insert(rng.randrange(at + 2, len(steps) + 1), (OUTAGE, service))
    return Plan(steps, [rng.uniform(*pause) for _ in steps])


@dataclass
class Injector:
    system: RunSystem
    broker: EmbeddedKafka
    rng: random.Random
    plan: Plan
    down: tuple[float, float] = (0.3, 2.5)
    outage_seconds: float = 30.0
    counts: Counter = field(default_factory=Counter)
    malformed: list[malformed.Malformed] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    failovers: list[tuple[str, float]] = field(default_factory=list)  # (service, seconds)

    def note(self, text: str) -> None:
        line = f"  +{time.monotonic() - self.started:6.1f}s  {text}"
        self.log_lines.append(line)
        print(line, flush=True)

    async def run(self) -> None:
        self.started = time.monotonic()
        for (fault, target), pause in zip(self.plan.steps, self.plan.pauses, strict=True):
            await asyncio.sleep(pause)
            if fault == KILL:
                await self.kill(target)
            elif fault == BROKER:
                await self.restart_broker()
            elif fault == REPLAY:
                await self.replay()
            elif fault == OUTAGE:
                await self.database_outage(target)
            elif fault in (RELAY_HOLDER, CONSUMER_COPY):
                await self.kill_copy(target, holder=fault == RELAY_HOLDER)
            else:
                await self.inject_malformed()

    async def kill(self, name: str) -> None:
        launcher = self.system.launcher
        process = launcher.processes[name].process
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait)
        self.counts[KILL] += 1
        downtime = self.rng.uniform(*self.down)
        self.note(f"kill -9 {name} (pid {process.pid}); restart in {downtime:.1f}s")
        await asyncio.sleep(downtime)
        # Restarted without waiting for it to be ready: a consumer rejoining its group waits
        # out the dead member's session, and the next fault may well come meanwhile.
        launcher.restart(name)
        self.note(f"{name} restarted")

    async def kill_copy(self, name: str, *, holder: bool) -> None:
        """kill -9 the copy of ``name`` that runs its relay (``holder``), or one that stands
        by and only consumes; for the holder, the time until another copy says it runs the
        relay is the failover time. The copy is restarted after a while."""
        launcher = self.system.launcher
        async with httpx.AsyncClient(timeout=2) as client:
            deadline = time.monotonic() + 60
            while True:  # one copy holds the relay once the copies are up again
                roles = await _relay_roles(client, launcher.copies_of(name))
                if roles.count("active") == 1 and None not in roles:
                    break
                if time.monotonic() > deadline:
                    self.note(f"{name}: no copy runs the relay after 60 s ({roles}): skipped")
                    return
                await asyncio.sleep(0.2)
            copies = launcher.copies_of(name)
            victim = copies[roles.index("active") if holder else roles.index("standby")]
            others = [c for c in copies if c is not victim]
            victim.process.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            await asyncio.to_thread(victim.process.wait)
            self.counts[RELAY_HOLDER if holder else CONSUMER_COPY] += 1
            took = ""
            if holder:
                while "active" not in await _relay_roles(client, others):
                    if time.monotonic() - killed > 60:
                        break
                    await asyncio.sleep(0.05)
                seconds = time.monotonic() - killed
                self.failovers.append((name, round(seconds, 2)))
                took = f"; another copy runs the relay {seconds:.2f}s later"
        self.note(f"kill -9 {victim.label} (pid {victim.process.pid}, "
                  f"{'relay holder' if holder else 'consumer only'}){took}")
        await asyncio.sleep(self.rng.uniform(*self.down))
        launcher.restart_copy(victim)
        self.note(f"{victim.label} restarted")

    async def database_outage(self, name: str) -> None:
        """The service's database away for ``outage_seconds``: new connections refused, its
        sessions ended; the service itself keeps running. Taken once the service is ready (a
        service still starting when its database goes would not start at all, which is
        another fault: a start needs its database)."""
        await self._ready(name, 90)
        server = self.system.launcher.postgres_url
        database = database_name(self.system.launcher.processes[name].dsn)
        ended = await refuse_connections(server, database)
        started = time.monotonic()
        try:
            again = await self.redeliver_to(name)
            self.note(f"database of {name} away ({ended} sessions ended) for "
                      f"{self.outage_seconds:.0f}s; {again} records it reads delivered again "
                      "meanwhile")
            await asyncio.sleep(max(0.0, self.outage_seconds - (time.monotonic() - started)))
        finally:
            await allow_connections(server, database)
        self.counts[OUTAGE] += 1
        self.note(f"database of {name} back")

    async def redeliver_to(self, name: str) -> int:
        """Deliver again, in a random order, a sample of the events the service's consumers
        handle, so that they meet the outage whatever the load is doing then (a consumer
        that dead-lettered one would have given up on a valid event; one that acknowledged it
        unapplied would not be caught here, it was applied before). Each copy lands after
        its original, so no stream's order changes."""
        mine = [c for c in malformed.consumers() if c.name.startswith(f"{name}.")]
        handles = frozenset().union(*(c.handles for c in mine))
        topics = sorted({events_topic(s, self.system.topic_prefix)
                         for c in mine for s in c.services})
        if not topics:
            return 0
        records = [r for r in await bus.read_all(self.broker.bootstrap_servers, topics)
                   if not bus.is_injected(r) and r.header.get("ce_type") in handles]
        sample = self.rng.sample(records, min(len(records), OUTAGE_REDELIVERED))
        await bus.produce(self.broker.bootstrap_servers, sample)
        self.counts["records delivered again during outages"] += len(sample)
        return len(sample)

    async def _ready(self, name: str, seconds: float) -> None:
        url = self.system.urls[name] + "/ready"
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{name} not ready after {seconds}s")

    async def restart_broker(self) -> None:
        prefix = self.system.topic_prefix
        captured = [r for r in await bus.read_all(self.broker.bootstrap_servers,
                                                  self._event_topics())
                    if not bus.is_injected(r)]
        await asyncio.to_thread(self.broker.restart_empty)
        self.counts[BROKER] += 1
        self.note(f"broker restarted empty ({len(captured)} records were on the topics)")
        # Into the empty broker, before the relays notice: the same records, streams mixed.
        await ensure_topics(self.broker.bootstrap_servers, all_topics(prefix))
        shuffled = bus.cross_stream_shuffle(bus.distinct(captured), self.rng)
        await bus.produce(self.broker.bootstrap_servers, shuffled)
        self.counts[REPLAY] += 1
        self.counts["records re-produced"] += len(shuffled)
        self.note(f"{len(shuffled)} records re-produced into the new broker, cross-stream "
                  "shuffled; the relays republish after them")

    async def replay(self) -> None:
        records = [r for r in await bus.read_all(self.broker.bootstrap_servers,
                                                 self._event_topics())
                   if not bus.is_injected(r)]
        shuffled = bus.cross_stream_shuffle(records, self.rng)
        await bus.produce(self.broker.bootstrap_servers, shuffled)
        self.counts[REPLAY] += 1
        self.counts["records re-produced"] += len(shuffled)
        self.note(f"{len(shuffled)} records delivered a second time, cross-stream shuffled")

    async def inject_malformed(self) -> None:
        batch = malformed.messages(self.system.topic_prefix, private_keys(self.system.state_dir),
                                   round_=self.counts[MALFORMED])
        await bus.produce(self.broker.bootstrap_servers, [m.record for m in batch])
        self.malformed += batch
        self.counts[MALFORMED] += len(batch)
        self.note(f"{len(batch)} malformed messages, {len(malformed.KINDS)} kinds on each of "
                  f"{len(SERVICES)} topics")

    def _event_topics(self) -> list[str]:
        return [events_topic(s, self.system.topic_prefix) for s in SERVICES]


async def _relay_roles(client: httpx.AsyncClient, copies: list) -> list[str | None]:
    """Each copy's relay as its /health says (None: it does not answer)."""
    roles: list[str | None] = []
    for svc in copies:
        try:
            roles.append((await client.get(f"{svc.url}/health")).json().get("relay"))
        except (httpx.HTTPError, ValueError):
            roles.append(None)
    return roles


# -- faults on the commands of the disbursement ----------------------------------------------

LOST_ANSWER = "answer lost, retried with its Idempotency-Key"
KILLED_MID_REQUEST = "kill -9 funding mid-request, retried with its Idempotency-Key"

# Funding's commands, by what they do: the set-up of the money (policy, budget) and the
# disbursement (batch, objection, resolution, bank file, payment). Each gets one fault.
FUNDING_COMMANDS = {
    "policy": re.compile(r"^/policies$"),
    "budget allocation": re.compile(r"^/budget/allocations$"),
    "batch approval": re.compile(r"^/batches$"),
    "objection": re.compile(r"^/batches/[^/]+/objections$"),
    "resolution": re.compile(r"^/batches/[^/]+/objections/[^/]+/resolution$"),
    "payment instruction": re.compile(r"^/batches/[^/]+/instructions$"),
    "payment confirmation": re.compile(r"^/batches/[^/]+/confirmations$"),
}


def plan_requests(rng: random.Random, kills: int | None = None) -> dict[str, str]:
    """Which fault each funding command gets, in a seeded order: ``kills`` of them funding
    killed mid-request (by default half, rounded down; a killed funding is back only after
    its consumer rejoins its group, some 15-20 s), the others their answer lost."""
    kinds = list(FUNDING_COMMANDS)
    kills = len(kinds) // 2 if kills is None else max(0, min(kills, len(kinds)))
    chosen = [KILLED_MID_REQUEST] * kills + [LOST_ANSWER] * (len(kinds) - kills)
    rng.shuffle(chosen)
    return dict(zip(kinds, chosen, strict=True))


@dataclass
class RequestFaults:
    """Faults on the requests themselves, for the commands that move money.

    *Answer lost*: the command reaches funding and takes effect, and its answer is thrown
    away as a broken connection would: the client cannot tell it from a request that never
    arrived. *Killed mid-request*: funding gets ``kill -9`` a seeded few milliseconds after
    the request went out (before, during or after its transaction), and is restarted. Either
    way the client retries with the same Idempotency-Key, and must end with one effect and
    the answer of that effect (the bank file included).

    Funding's test clock is process memory (a rehearsal tool), so a restart would put the
    public notice back in progress; the injector restarts funding with the days it was ahead
    (``SONGJI_DAYS_AHEAD``), as an operator rehearsing would.
    """

    system: RunSystem
    rng: random.Random
    counts: Counter
    note: Callable[[str], None]
    planned: dict[str, str] = field(default_factory=dict)

    def fault_for(self, method: str, service: str, path: str) -> tuple[str, str] | None:
        if method != "POST" or service != "funding":
            return None
        for kind, pattern in FUNDING_COMMANDS.items():
            if pattern.match(path) and kind in self.planned:
                return kind, self.planned.pop(kind)
        return None

    async def inject(self, fault: tuple[str, str], headers: Mapping[str, str],
                     send: Callable[[], Awaitable[httpx.Response]]) -> NoReturn:
        kind, what = fault
        if what == LOST_ANSWER:
            response = await send()
            self.counts[LOST_ANSWER] += 1
            self.note(f"{kind}: answer {response.status_code} lost")
            raise httpx.ReadError(f"{kind}: the answer was lost (injected)")
        days_ahead = await self._days_ahead(headers)
        request = asyncio.create_task(send())
        await asyncio.sleep(self.rng.uniform(0.0, 0.04))
        process = self.system.launcher.processes["funding"].process
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait)
        self.counts[KILLED_MID_REQUEST] += 1
        try:
            outcome = f"answered {(await request).status_code} before it died"
        except httpx.HTTPError as exc:
            outcome = f"no answer ({type(exc).__name__})"
        self.system.launcher.extra_env["SONGJI_DAYS_AHEAD"] = str(days_ahead)
        self.system.launcher.restart("funding")
        self.note(f"{kind}: kill -9 funding (pid {process.pid}) mid-request, {outcome}; "
                  f"restarted (test clock {days_ahead} days ahead)")
        raise httpx.ReadError(f"{kind}: funding was killed mid-request (injected)")

    async def _days_ahead(self, headers: Mapping[str, str]) -> int:
        url = self.system.urls["funding"] + "/test-clock"
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(url, headers={"Authorization": headers["Authorization"]})
        response.raise_for_status()
        return int(response.json()["days_ahead"])
