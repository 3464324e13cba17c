"""``songji status``: one screen of each service's replicas, relay lag, consumer lag and dead
letters, read from the services' ``/metrics`` (shared/runtime/metrics.py).

Each address is one process; the service it serves is what its ``songji_service`` says, so
several addresses of one service are counted as its replicas. Relay lag is read from the
store, the same from every replica: the largest is shown. Consumer lag is per partition, as
each replica's consumer last fetched it: a partition's largest, summed over partitions.
Dead letters and published events are counted per process: summed over replicas.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shared.eventsourcing.topics import SERVICES

DEFAULT_BASE_PORT = 8001  # what ``songji up`` uses: the five services on the next five ports


def default_addresses(base_port: int = DEFAULT_BASE_PORT) -> list[str]:
    return [f"http://127.0.0.1:{base_port + i}" for i in range(len(SERVICES))]


@dataclass
class Scrape:
    """One process's answer: its samples, or why there are none."""

    address: str
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)
    error: str | None = None

    @property
    def service(self) -> str | None:
        for name, labels, value in self.samples:
            if name == "songji_service" and value == 1:
                return labels.get("service")
        return None

    def values(self, name: str) -> list[tuple[dict[str, str], float]]:
        return [(labels, value) for n, labels, value in self.samples if n == name]


def parse(address: str, text: str) -> Scrape:
    return Scrape(address, [(s.name, dict(s.labels), s.value)
                            for family in text_string_to_metric_families(text)
                            for s in family.samples])


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    replicas: int
    relay_lag: int | None
    published: int
    consumer_lag: dict[str, int]  # by consumer: the sum over its partitions
    dead_letters: dict[str, int]  # by reason, over all its consumers and replicas


def summarise(scrapes: Iterable[Scrape]) -> tuple[list[ServiceStatus], list[Scrape]]:
    """The status of each service that answered, in the system's order; and the addresses
    that did not answer (their service is unknown)."""
    by_service: dict[str, list[Scrape]] = {}
    silent: list[Scrape] = []
    for scrape in scrapes:
        name = scrape.service if scrape.error is None else None
        if name is None:
            silent.append(scrape)
        else:
            by_service.setdefault(name, []).append(scrape)
    order = {name: i for i, name in enumerate(SERVICES)}
    statuses = []
    for name in sorted(by_service, key=lambda n: (order.get(n, len(order)), n)):
        replicas = by_service[name]
        lags = [v for s in replicas for _, v in s.values("songji_relay_lag_events")]
        partitions: dict[tuple[str, str, str], float] = {}
        for s in replicas:
            for labels, v in s.values("songji_consumer_lag_records"):
                key = (labels["consumer"], labels["topic"], labels["partition"])
                partitions[key] = max(partitions.get(key, 0.0), v)
        consumer_lag: dict[str, int] = {}
        for (consumer, _, _), v in partitions.items():
            consumer_lag[consumer] = consumer_lag.get(consumer, 0) + int(v)
        dead: dict[str, int] = {}
        for s in replicas:
            for labels, v in s.values("songji_consumer_dead_letters_total"):
                dead[labels["reason"]] = dead.get(labels["reason"], 0) + int(v)
        statuses.append(ServiceStatus(
            service=name, replicas=len(replicas),
            relay_lag=int(max(lags)) if lags else None,
            published=int(sum(v for s in replicas
                              for _, v in s.values("songji_relay_published_events_total"))),
            consumer_lag=consumer_lag, dead_letters={k: v for k, v in dead.items() if v}))
    return statuses, silent


Fetch = Callable[[str], Awaitable[str]]


async def scrape_all(addresses: Sequence[str], fetch: Fetch) -> list[Scrape]:
    async def one(address: str) -> Scrape:
        try:
            return parse(address, await fetch(address))
        except Exception as exc:  # a process down or not Songji: shown as not answering
            return Scrape(address, error=f"{type(exc).__name__}: {exc}"[:120])
    return list(await asyncio.gather(*(one(a) for a in addresses)))


async def fetch_over_http(addresses: Sequence[str], seconds_each: float) -> list[Scrape]:
    async with httpx.AsyncClient(timeout=seconds_each) as client:
        async def fetch(address: str) -> str:
            response = await client.get(address.rstrip("/") + "/metrics")
            response.raise_for_status()
            return response.text
        return await scrape_all(addresses, fetch)


def render(statuses: Sequence[ServiceStatus], silent: Sequence[Scrape]) -> str:
    """The screen, as plain text (fixed columns), so it reads the same in a log or a pager."""
    rows = [("service", "replicas", "relay lag", "published", "consumer lag", "dead letters")]
    for s in statuses:
        rows.append((
            s.service, str(s.replicas),
            "-" if s.relay_lag is None else str(s.relay_lag), str(s.published),
            ", ".join(f"{c.split('.', 1)[-1]} {v}" for c, v in sorted(s.consumer_lag.items()))
            or "-",
            ", ".join(f"{r} {v}" for r, v in sorted(s.dead_letters.items())) or "0"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.extend(f"not answering: {s.address} ({s.error})" for s in silent)
    return "\n".join(lines)
