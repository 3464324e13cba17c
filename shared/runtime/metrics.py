"""``GET /metrics``: every service's numbers in the Prometheus text format, one registry per app.

Each app has its own ``CollectorRegistry`` (never the process-wide default), so several
services in one process (the tests, ``songji run``) each show only their own numbers.

What is counted where, and why there:

- HTTP requests by route template, method and status, with latency histograms:
  ``HttpMetricsMiddleware`` (``http_requests_total``, ``http_request_duration_seconds``).
- The relay's published and quarantined events, and each inbox's outcomes and dead letters by
  reason: plain counts the relay and the inboxes keep themselves (``shared/eventsourcing`` does
  not know about Prometheus), read by a collector at scrape time.
- Relay lag (positions behind the store's head) and consumer lag by partition: gauges set at
  scrape time, from the store's head row and the relay's checkpoint (two indexed reads) and from
  what the consumer already knows of each partition's high watermark (no request to the broker).
- Command conflicts and retries: counters the command pipeline increments; the size of each
  batch of commands written together (``songji_command_batch_lines``).
- How late the event loop wakes a task that sleeps a fixed short time, over and over
  (``songji_event_loop_lag_seconds``, ``watch_event_loop``): what a request arriving at that
  moment waited for the loop before its handler ran. A service whose answers are slow while
  this stays low spends the time elsewhere (the database, other processes on the machine).
- A service's own figures (funding's ledger, notifications' deliveries): its ``ServiceSpec.metrics``
  hook, run at scrape time, sets gauges from its read models or counts as things happen.

Counters are per process: Prometheus sums them over replicas. Gauges read from the database
(relay lag, funding's ledger) are the same from every replica of a service: aggregate them with
``max``, not ``sum``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.eventsourcing.inbox import DeadLetterReason, Outcome

if TYPE_CHECKING:
    from shared.runtime.service import ServiceContext

log = structlog.get_logger(__name__)

METRICS_PATH = "/metrics"
# How long a scrape may spend reading the database before it answers with what it has.
REFRESH_TIMEOUT_SECONDS = 2.0
# The event loop's watch sleeps this long between its measurements: 40 wake-ups a second,
# whose cost (a timer and a histogram observation each) no request notices.
LOOP_WATCH_SECONDS = 0.025


class ServiceMetrics:
    """The registry of one service's app and the metrics the shared kit updates."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "http_requests_total", "HTTP requests answered, by route template, method and "
            "status", ["handler", "method", "status"], registry=r)
        self.http_duration = Histogram(
            "http_request_duration_seconds", "Time from a request's start to its answer's "
            "end, by route template and method", ["handler", "method"], registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.command_conflicts = Counter(
            "songji_command_conflicts", "Command attempts that lost a race for a stream "
            "(another command appended first); each is decided again or, after the last "
            "attempt, answered 409", ["command"], registry=r)
        self.command_retries = Counter(
            "songji_command_retries", "Command attempts made again after a conflict",
            ["command"], registry=r)
        self.command_conflicts_exhausted = Counter(
            "songji_command_conflicts_exhausted", "Commands answered 409 concurrent_update: "
            "every attempt lost its race", ["command"], registry=r)
        self.command_batch_lines = Histogram(
            "songji_command_batch_lines", "Commands of separate requests written in one "
            "transaction (shared/runtime/batches.py), a batch each", registry=r,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128))
        self.relay_lag = Gauge(
            "songji_relay_lag_events", "Events committed to the store and not yet published "
            "(the store's head position minus the relay's checkpoint)", ["topic"], registry=r)
        self.store_head = Gauge(
            "songji_store_head_position", "Position of the last event committed to the store",
            registry=r)
        self.consumer_lag = Gauge(
            "songji_consumer_lag_records", "Records on a partition not yet consumed (the "
            "partition's high watermark minus the consumer's position), as last fetched",
            ["consumer", "topic", "partition"], registry=r)
        self.notifications = Counter(
            "songji_notifications", "Notices whose delivery ended, by channel and outcome "
            "(sent or failed)", ["channel", "outcome"], registry=r)
        self.event_loop_lag = Histogram(
            "songji_event_loop_lag_seconds", "How late the event loop woke a task that sleeps "
            f"{LOOP_WATCH_SECONDS * 1000:g} ms over and over: the wait, at that moment, of a "
            "request for the loop", registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
        self.scrape_refresh_failures = Counter(
            "songji_metrics_refresh_failures", "Scrapes that answered without refreshing the "
            "gauges read from the database (it was slow or away)", registry=r)
        self._own: dict[str, Gauge] = {}

    def gauge(self, name: str, documentation: str, labels: Iterable[str] = ()) -> Gauge:
        """A service's own gauge in this registry (set by its ``ServiceSpec.metrics`` hook):
        made at the first call, the same one at every later call."""
        if name not in self._own:
            self._own[name] = Gauge(name, documentation, list(labels), registry=self.registry)
        return self._own[name]

    def counted_conflict(self, commands: Iterable[str], *, exhausted: bool) -> None:
        for name in commands:
            self.command_conflicts.labels(name).inc()
            if exhausted:
                self.command_conflicts_exhausted.labels(name).inc()
            else:
                self.command_retries.labels(name).inc()


class HttpMetricsMiddleware:
    """Counts every HTTP request a route answered, by the route's template, method and status
    (each status apart: an alert on 5xx matches 500 and 503 both), and times it. A request no
    route matched is not counted (its path would grow the label set without bound), nor a
    scrape of ``/metrics``. Plain ASGI, reading the route the router matched from the scope
    (``scope["route"]``), so a request costs one dictionary look-up more, not a second pass
    over the routes."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before answering

        async def send_seeing_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_seeing_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None)
            if template is not None and template != METRICS_PATH:
                method = scope["method"]
                self.metrics.http_requests.labels(template, method, str(status)).inc()
                self.metrics.http_duration.labels(template, method).observe(
                    time.perf_counter() - started)


class _KitCollector(Collector):
    """The counts the relay and the inboxes keep, read as they are at scrape time."""

    def __init__(self, app: FastAPI, service: str) -> None:
        self.app = app
        self.service = service

    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily("songji_service", "This process serves the named service "
                                 "(always 1)", labels=["service"])
        info.add_metric([self.service], 1)
        yield info
        ctx: ServiceContext[Any] | None = getattr(self.app.state, "ctx", None)
        if ctx is None:
            return
        relay = ctx.relay
        published = CounterMetricFamily("songji_relay_published_events", "Events the relay "
                                        "published to the service's topic", labels=["topic"])
        published.add_metric([relay.topic], relay.published)
        yield published
        quarantined = CounterMetricFamily("songji_relay_quarantined_events", "Events the "
                                          "broker refused for good, set aside by the relay",
                                          labels=["topic"])
        quarantined.add_metric([relay.topic], relay.quarantined)
        yield quarantined
        failing = GaugeMetricFamily("songji_relay_failures_in_a_row", "Relay cycles failed "
                                    "in a row (0 when the last one succeeded)", labels=["topic"])
        failing.add_metric([relay.topic], relay.failures_in_a_row)
        yield failing
        events = CounterMetricFamily("songji_consumer_events", "Messages a consumer received, "
                                     "by outcome (applied, duplicate, ignored, dead-lettered)",
                                     labels=["consumer", "outcome"])
        dead = CounterMetricFamily("songji_consumer_dead_letters", "Messages a consumer sent "
                                   "to the dead-letter topic, by reason",
                                   labels=["consumer", "reason"])
        waits = CounterMetricFamily("songji_consumer_outage_waits", "Times a consumer waited "
                                    "for the database before applying again",
                                    labels=["consumer"])
        for inbox in ctx.inboxes:
            for outcome in Outcome:
                events.add_metric([inbox.consumer, outcome.value], inbox.outcomes[outcome.value])
            for reason in DeadLetterReason:
                dead.add_metric([inbox.consumer, reason.value],
                                inbox.dead_letter_reasons[reason.value])
            waits.add_metric([inbox.consumer], inbox.outage_waits)
        yield events
        yield dead
        yield waits
        states = CounterMetricFamily("songji_command_states", "Reads of a long stream by a "
                                     "command (each attempt's, each stream of a batch) that "
                                     "built on its state kept from an earlier one (hit) or "
                                     "found it no longer matching the store (miss)",
                                     labels=["outcome"])
        states.add_metric(["hit"], ctx.states.hits)
        states.add_metric(["miss"], ctx.states.misses)
        yield states


async def _refresh_relay_lag(ctx: ServiceContext[Any]) -> None:
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT (SELECT last_position FROM event_head WHERE id = 1) AS head,
                      (SELECT position FROM relay_checkpoint WHERE topic = $1) AS done""",
            ctx.relay.topic)
    head, done = (row["head"] or 0), (row["done"] or 0)
    ctx.metrics.store_head.set(head)
    ctx.metrics.relay_lag.labels(ctx.relay.topic).set(max(0, head - done))


async def _refresh_consumer_lag(ctx: ServiceContext[Any]) -> None:
    """From each consumer's own view of its partitions (the high watermark comes with every
    fetch): no request to the broker. A partition not fetched yet shows no lag; one moved to
    another replica by a rebalance is no longer shown here (that replica shows it)."""
    ctx.metrics.consumer_lag.clear()
    for name, subscriber in ctx.kafka_consumers.items():
        client = getattr(subscriber, "consumer", None)  # the subscriber's client, once started
        if client is None:
            continue
        with contextlib.suppress(Exception):  # a rebalance under way: the next scrape
            for tp in sorted(client.assignment()):
                high = client.highwater(tp)
                if high is None:
                    continue
                # Answers at once when the position is known; never wait for one here.
                position = await asyncio.wait_for(client.position(tp), 0.05)
                ctx.metrics.consumer_lag.labels(name, tp.topic, str(tp.partition)).set(
                    max(0, high - position))


async def watch_event_loop(metrics: ServiceMetrics) -> None:
    """Until cancelled: sleep ``LOOP_WATCH_SECONDS`` and record how much later than that the
    loop woke this task (``songji_event_loop_lag_seconds``). A callback that holds the loop
    (parsing a large result, signing a batch) shows as the lateness of the wake-ups it
    delays."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(LOOP_WATCH_SECONDS)
        metrics.event_loop_lag.observe(max(0.0, loop.time() - started - LOOP_WATCH_SECONDS))


MetricsHook = Callable[["ServiceContext[Any]"], Awaitable[None]]


def install_metrics(app: FastAPI, service: str, hook: MetricsHook | None) -> ServiceMetrics:
    """Instrument ``app``'s HTTP routes and add ``GET /metrics`` (public, not in the OpenAPI
    document). The metrics object is ``app.state.metrics``; the context gets it at startup."""
    metrics = ServiceMetrics()
    metrics.registry.register(_KitCollector(app, service))
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    app.state.metrics = metrics

    @app.get(METRICS_PATH, include_in_schema=False)
    async def scrape(request: Request) -> Response:
        ctx: ServiceContext[Any] | None = getattr(request.app.state, "ctx", None)
        if ctx is not None:
            try:
                async with asyncio.timeout(REFRESH_TIMEOUT_SECONDS):
                    await _refresh_relay_lag(ctx)
                    if hook is not None:
                        await hook(ctx)
            except Exception as exc:  # the numbers that need no database still answer
                metrics.scrape_refresh_failures.inc()
                log.warning("metrics refresh failed", error=repr(exc))
            await _refresh_consumer_lag(ctx)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
