"""One service = one FastAPI app + one FastStream broker + the outbox relay, in one lifespan.

A service declares itself as a ServiceSpec (its routers, migrations and subscriptions); this
module wires the shared pieces: the pool, migrations, the event store, the relay, the inboxes,
the request limits, the correlation-id middleware, authentication of every route, ``/health``,
``/ready`` and ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

import asyncpg
import structlog
from aiokafka import ConsumerRecord
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from faststream.exceptions import NackMessage
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy

from shared import tracing
from shared.audit import routes as audit_routes
from shared.audit.jobs import ChainVerifications
from shared.auth.identity import require_token
from shared.contracts import Actor, Event, Metadata
from shared.contracts.envelope import InvalidMessage, readable_headers, text_headers
from shared.eventsourcing.authenticity import Authenticity
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.heads import HeadSealer, Seals, read_seals
from shared.eventsourcing.inbox import Apply, ConsumerStopped, Inbox, Origin
from shared.eventsourcing.leadership import Leadership
from shared.eventsourcing.migrations import (
    KIT_MIGRATIONS,
    apply_migrations,
    migration_files,
    migrations_done,
)
from shared.eventsourcing.relay import Relay
from shared.eventsourcing.signing import PublicKeys, SigningKey
from shared.eventsourcing.store import EventStore
from shared.eventsourcing.topics import (
    dead_letter_topic,
    ensure_topics,
    events_topic,
    heads_topic,
    owner_of_topic,
)
from shared.runtime import catalogue
from shared.runtime.batches import CommandBatches
from shared.runtime.commands import CommandSpec, RetryPolicy
from shared.runtime.correlation import CorrelationMiddleware
from shared.runtime.errors import install_error_handlers, refuse_nul_characters
from shared.runtime.limits import RequestLimits, RequestLimitsMiddleware
from shared.runtime.logging import configure_logging
from shared.runtime.metrics import (
    MetricsHook,
    ServiceMetrics,
    install_metrics,
    watch_event_loop,
)
from shared.runtime.settings import ServiceSettings
from shared.runtime.states import States

log = structlog.get_logger(__name__)


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
Projection = Callable[[asyncpg.Connection, Sequence[Event]], Awaitable[None]]


async def _no_projection(_: asyncpg.Connection, __: Sequence[Event]) -> None:
    return None


@dataclass(frozen=True)
class Subscription:
    """A consumer: which services' topics it reads and what it does with each event type."""

    name: str
    services: Sequence[str]
    handlers: Mapping[type[Event], Apply]
    description: str


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    title: str
    description: str
    routers: Sequence[APIRouter] = ()
    migrations: Path | None = None
    subscriptions: Sequence[Subscription] = ()
    settings_class: type[ServiceSettings] = ServiceSettings
    # Long-running jobs of the service (e.g. a reminder scheduler), started after the broker
    # and cancelled at shutdown. Each gets the context and must loop until cancelled.
    background: Sequence[Callable[[ServiceContext], Awaitable[None]]] = ()
    # (path pattern, bytes) for routes whose valid bodies exceed the body-size setting; none
    # does today (tests/unit/test_request_limits.py measures the largest of each route).
    larger_bodies: Sequence[tuple[str, int]] = ()
    # Every command the service takes, by type, and how it runs through the kit's pipeline
    # (shared/runtime/commands.py); ``projection`` keeps the service's read models of its own
    # events, in the transaction that appends them.
    commands: Mapping[type[Any], CommandSpec[Any, Any, Any]] = field(default_factory=dict)
    projection: Projection = _no_projection
    # Run at each scrape of ``/metrics``, to set the service's own gauges (made with
    # ``ctx.metrics.gauge``) from its read models; must be cheap (shared/runtime/metrics.py).
    metrics: MetricsHook | None = None


@dataclass
class ServiceContext(Generic[SettingsT]):
    """What handlers get: the service's own settings (typed: ``ServiceContext[
    TrainingSettings]``), the database, the event store, the broker, and its commands."""

    name: str
    settings: SettingsT
    pool: asyncpg.Pool
    store: EventStore
    broker: KafkaBroker
    relay: Relay
    public_keys: PublicKeys | None = None
    inboxes: list[Inbox] = field(default_factory=list)
    commands: Mapping[type[Any], CommandSpec[Any, Any, Any]] = field(default_factory=dict)
    project: Projection = _no_projection
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    # Each consumer's FastStream subscriber, by inbox name (its client tells its lag).
    kafka_consumers: dict[str, Any] = field(default_factory=dict)
    # Which copy of the service runs its relay and head sealer (None: built by hand, alone).
    leadership: Leadership | None = None
    # The auditor's verifications of the store's hash chain (shared/audit/jobs.py).
    chain_verifications: ChainVerifications | None = None
    # The states of long streams, kept between commands (shared/runtime/states.py).
    states: States = field(default_factory=States)
    # Commands written in batches (CommandSpec.batch_key); made with the context.
    batches: CommandBatches = field(init=False)

    def __post_init__(self) -> None:
        self.batches = CommandBatches(self)


async def context(request: Request) -> ServiceContext:
    """FastAPI dependency: the running service's context."""
    return request.app.state.ctx


Context = Annotated[ServiceContext[Any], Depends(context)]


def metadata_for(request: Request, actor: Actor | None = None) -> Metadata:
    return Metadata(correlation_id=request.state.correlation_id, actor=actor or Actor())


def signing_keys(spec: ServiceSpec, settings: ServiceSettings) -> tuple[SigningKey, PublicKeys]:
    """The service's own key and everyone's public keys; ValueError (naming the settings,
    never a value) when its own public key, or that of a service it reads, is not among them:
    what it publishes would be refused by every reader, or what it reads would all be."""
    own = SigningKey(settings.signing_key.get_secret_value())
    keys = PublicKeys.from_setting(settings.public_keys)
    if not keys.holds(spec.name, own.public_text()):
        raise ValueError(f"SONGJI_PUBLIC_KEYS holds no key of {spec.name} matching "
                         "SONGJI_SIGNING_KEY")
    read = {s for sub in spec.subscriptions for s in sub.services}
    missing = sorted(read - set(keys.services))
    if missing:
        raise ValueError(f"SONGJI_PUBLIC_KEYS has no key of {', '.join(missing)}, "
                         f"which {spec.name} reads")
    return own, keys


def create_app(spec: ServiceSpec, settings: ServiceSettings) -> FastAPI:
    configure_logging(settings.log_level, settings.log_format)
    tracing.configure(spec.name)  # on only when OTEL_EXPORTER_OTLP_ENDPOINT is set
    signer, public_keys = signing_keys(spec, settings)
    files = migration_files(KIT_MIGRATIONS, spec.migrations)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        structlog.contextvars.bind_contextvars(service=spec.name)
        pool = await create_pool(settings.database_url)
        async with pool.acquire() as conn:
            await apply_migrations(conn, files)
        store = EventStore(pool)
        prefix = settings.topic_prefix
        own_topic = events_topic(spec.name, prefix)
        read_topics = sorted({events_topic(s, prefix) for sub in spec.subscriptions
                              for s in sub.services})
        access = settings.kafka_access()
        broker = KafkaBroker(settings.kafka_bootstrap_servers,
                             security=access.faststream_security(),
                             logger=logging.getLogger("songji.faststream"),
                             # FastStream's own "Received" and "Processed" lines, two for every
                             # message, at DEBUG: the inbox logs each message with what it did
                             # (and a failure is still logged at ERROR).
                             log_level=logging.DEBUG,
                             client_id=f"songji-{spec.name}")
        # Of several copies of the service on this database, the holder of this role runs the
        # relay and the head sealer; the others stand by (shared.eventsourcing.leadership).
        leadership = Leadership(settings.database_url, f"{spec.name}.relay",
                                lease_seconds=settings.leader_lease_seconds,
                                retry_seconds=settings.leader_retry_seconds)
        relay = Relay(store, service=spec.name, signer=signer,
                      bootstrap_servers=settings.kafka_bootstrap_servers, topic=own_topic,
                      partitions=settings.topic_partitions,
                      poll_interval=settings.relay_poll_interval,
                      probe_interval=settings.relay_probe_interval,
                      client_options=access.client_options(),
                      max_message_bytes=settings.relay_max_message_bytes,
                      fence=leadership.fence)
        ctx = ServiceContext(spec.name, settings, pool, store, broker, relay, public_keys,
                             commands=spec.commands, project=spec.projection,
                             retry_policy=RetryPolicy(settings.command_attempts,
                                                      settings.command_backoff_seconds,
                                                      settings.command_backoff_cap_seconds),
                             metrics=app.state.metrics, leadership=leadership)
        for sub in spec.subscriptions:
            ctx.inboxes.append(_subscribe(ctx, sub))

        async def own_seals() -> Seals:
            found = await read_seals(settings.kafka_bootstrap_servers, prefix, [spec.name],
                                     public_keys, client_options=access.client_options())
            return found[spec.name]

        verifications = ChainVerifications(
            store, service=spec.name, read_seals=own_seals,
            timeout=settings.audit_verify_timeout_seconds)
        ctx.chain_verifications = verifications
        app.state.consuming = False
        app.state.ctx = ctx
        app.state.migrations = files

        async def start_consuming() -> None:
            """Join the consumer groups in the background: the group may take seconds to
            rebalance (longer after a copy was killed), and meanwhile the service answers
            HTTP (``/health`` alive, ``/ready`` false until this is done). A broker away is
            waited for."""
            while True:
                try:
                    await ensure_topics(settings.kafka_bootstrap_servers,
                                        [own_topic, heads_topic(spec.name, prefix),
                                         dead_letter_topic(prefix), *read_topics],
                                        settings.topic_partitions,
                                        client_options=access.client_options())
                    await broker.start()
                except Exception as exc:  # the broker away or refusing: try again
                    log.warning("consumers not started, retrying", error=repr(exc))
                    with contextlib.suppress(Exception):
                        await broker.stop()
                    await asyncio.sleep(settings.relay_poll_interval)
                    continue
                app.state.consuming = True
                log.info("consuming", reads=read_topics)
                return

        starting = asyncio.create_task(start_consuming(), name=f"{spec.name}-consumers")
        # Seals the store's head now and then, and as the service stops (see heads.py).
        sealer = HeadSealer(pool, service=spec.name, key=signer,
                            bootstrap_servers=settings.kafka_bootstrap_servers,
                            topic=heads_topic(spec.name, prefix),
                            interval=settings.head_seal_interval,
                            client_options=access.client_options())

        async def lead() -> None:
            relay.resume()
            sealer.resume()
            if leadership.stopping:  # stopping already: one cycle, the last seal, and out
                relay.stop()
                sealer.stop()
            await asyncio.gather(relay.run(), sealer.run())

        leading = asyncio.create_task(leadership.run(lead), name=f"{spec.name}-leadership")
        # The service's own background jobs run in every copy: each is safe so (its claims
        # are taken with FOR UPDATE SKIP LOCKED, or its work done under a lock).
        tasks = [asyncio.create_task(job(ctx), name=f"{spec.name}-{job.__name__}")
                 for job in spec.background]
        tasks.append(asyncio.create_task(watch_event_loop(app.state.metrics),
                                         name=f"{spec.name}-watch-event-loop"))
        log.info("service started", topic=own_topic, reads=read_topics)
        try:
            yield
        finally:
            # The holder finishes the relay's cycle and seals the head as it leaves it (its
            # last seal), then lets the lock go: a standby takes over at once.
            leadership.stop()
            relay.stop()
            sealer.stop()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(leading), timeout=20)
            tasks += [leading, starting]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await ctx.batches.close()
            await verifications.close()  # a run under way is recorded as interrupted
            for inbox in ctx.inboxes:
                inbox.stop()  # a consumer waiting for the database stops waiting
            await broker.stop()
            await pool.close()
            log.info("service stopped")

    # Every route needs a bearer token unless shared/auth/identity.py names it public.
    app = FastAPI(title=spec.title, description=spec.description, lifespan=lifespan,
                  dependencies=[Depends(require_token), Depends(refuse_nul_characters)])
    install_error_handlers(app)

    app.add_middleware(CorrelationMiddleware)

    # Added last, so it wraps everything above: a request too large is refused before the
    # correlation id, the authentication or any input check reads it.
    app.add_middleware(RequestLimitsMiddleware, limits=RequestLimits(
        max_body_bytes=settings.max_body_bytes, max_headers=settings.max_headers,
        max_header_bytes=settings.max_header_bytes,
        max_header_block_bytes=settings.max_header_block_bytes,
        larger_bodies=spec.larger_bodies))

    install_metrics(app, spec.name, spec.metrics)
    tracing.instrument_app(app)

    @app.get("/health", tags=["operations"], summary="The process is alive")
    async def health(request: Request) -> dict[str, str]:
        # Answered from the start (before the consumers joined their groups); says whether
        # this copy runs the relay ("active") or stands by for it.
        ctx: ServiceContext | None = getattr(request.app.state, "ctx", None)
        leading = ctx is not None and ctx.leadership is not None and ctx.leadership.holding
        return {"status": "ok", "service": spec.name,
                "relay": "active" if leading else "standby"}

    @app.get("/ready", tags=["operations"],
             summary="Database and broker reachable, migrations done, consumers running",
             responses={503: {"description": "Not ready yet: `checks` says what is missing"}})
    async def ready(request: Request) -> JSONResponse:
        checks = await _readiness(request.app)
        ok = all(checks.values())
        return JSONResponse(status_code=200 if ok else 503,
                            content={"ready": ok, "service": spec.name, "checks": checks})

    app.include_router(catalogue.router)
    app.include_router(audit_routes.router)  # the auditor's view of the store's hash chain
    for router in spec.routers:
        app.include_router(router)
    return app


async def _readiness(app: FastAPI) -> dict[str, bool]:
    ctx: ServiceContext | None = getattr(app.state, "ctx", None)
    if ctx is None:
        return {"database": False, "migrations": False, "broker": False, "consuming": False}
    checks = {"database": False, "migrations": False, "broker": False,
              "consuming": bool(getattr(app.state, "consuming", False))}
    with contextlib.suppress(Exception):
        async with ctx.pool.acquire(timeout=2) as conn:
            checks["database"] = await conn.fetchval("SELECT true")
            checks["migrations"] = await migrations_done(conn, app.state.migrations)
    with contextlib.suppress(Exception):
        checks["broker"] = await ctx.broker.ping(timeout=2)
    return checks


def _subscribe(ctx: ServiceContext, sub: Subscription) -> Inbox:
    settings = ctx.settings
    dead_topic = dead_letter_topic(settings.topic_prefix)

    async def dead_letter(key: bytes | None, value: bytes | None, headers: dict[str, str]) -> None:
        await ctx.broker.publish(value or b"", dead_topic, key=key, headers=headers)

    topics = [events_topic(s, settings.topic_prefix) for s in sub.services]
    assert ctx.public_keys is not None
    inbox = Inbox(ctx.pool, consumer=f"{ctx.name}.{sub.name}", handlers=sub.handlers,
                  dead_letter=dead_letter, attempts=settings.consumer_attempts,
                  backoff_seconds=settings.consumer_backoff_seconds,
                  outage_max_wait_seconds=settings.consumer_outage_max_wait_seconds,
                  authenticity=Authenticity(
                      ctx.public_keys,
                      {t: owner_of_topic(t, settings.topic_prefix) for t in topics}))

    subscriber = ctx.broker.subscriber(
        *topics,
        group_id=f"{settings.topic_prefix}.{ctx.name}.{sub.name}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        **settings.consumer_group_options(),
        # The offset is committed (aiokafka's commit of what getone returned: this record and
        # those before it) only after the handler returned. A handler that raises, or an inbox
        # stopped while it waits for the database, leaves the record uncommitted and seeks
        # back to it, so it is read again (here, or after a restart, by whoever has the
        # partition). The inbox dead-letters what can never succeed and returns, so raising
        # means something failed that is worth another try.
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=f"{ctx.name}.{sub.name}",
        description=sub.description,
        parser=_parse_any_headers,
        decoder=_undecoded,
    )
    ctx.kafka_consumers[inbox.consumer] = subscriber

    @subscriber
    async def receive(msg: Any) -> None:  # the message itself (``_undecoded``)
        raw = msg.raw_message
        origin = Origin(topic=raw.topic, partition=raw.partition, offset=raw.offset, key=raw.key)
        try:
            await inbox.receive(raw.headers, raw.value, origin)
        except ConsumerStopped:
            raise NackMessage() from None  # not acknowledged: read again after the restart

    return inbox


async def _undecoded(message: KafkaMessage) -> KafkaMessage:
    """The subscriber's decoder: the handler is given the message itself, not its value
    decoded (the inbox reads the value). A handler asking for the message by its type instead
    would have FastStream look it up for every message in a worker thread."""
    return message


async def _parse_any_headers(
    record: ConsumerRecord,
    parse: Callable[[ConsumerRecord], Awaitable[KafkaMessage]],
) -> KafkaMessage:
    """FastStream's parser decodes every header as UTF-8 before any handler runs; a header with
    no value, or not UTF-8, makes it log an error and drop the record, so it would never reach
    the dead-letter topic. Such a record is parsed from a copy with readable headers instead,
    and the handler is given the record itself: the inbox reads its headers (and refuses it,
    with the reason) from there."""
    try:
        return await parse(record)
    except (AttributeError, UnicodeDecodeError):
        try:
            text_headers(record.headers)
        except InvalidMessage:
            pass  # what failed was a header: parsed from readable ones below
        else:
            raise  # the headers are fine: some other failure, not ours to hide
    readable = [(k, v.encode()) for k, v in readable_headers(record.headers).items()]
    message = await parse(dataclasses.replace(record, headers=readable))
    message.raw_message = record  # the record itself (the copy lacks nothing else we read)
    return message
