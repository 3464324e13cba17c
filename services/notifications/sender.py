"""The background job that sends due notices from the outbox, outside any consume transaction.

Per notice: claim it; skip it if expired; fetch the worker's contact from enrolment (never
stored); wait for the worker's contact window unless urgent; render; send through the
configured channel with retries and backoff. Every attempt is logged in ``delivery_attempts``;
the end is recorded with ``NotificationDelivered`` or ``NotificationFailed`` in the event
store, in the transaction that closes the claim. A crash between sending and recording the
attempt leaves the claim to time out, and that one notice is sent again: at least once, never
lost. A crash after the attempt is recorded only closes the claim when it is taken over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.notifications import outbox
from services.notifications.channels import Channel, LocalChannel, Message, SmsGateway, SmtpEmail
from services.notifications.contacts import EnrolmentContacts
from services.notifications.delivery_errors import (
    DeliveryError,
    DependencyUnavailable,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from services.notifications.domain.contact_window import send_time
from services.notifications.domain.model import STATION_PREFIX
from services.notifications.outbox import Due
from services.notifications.rendering import TemplateMissing, locale_chain, render
from services.notifications.settings import DepartmentAddress, NotificationSettings
from shared.contracts import Actor, Metadata
from shared.contracts.notifications import NotificationDelivered, NotificationFailed
from shared.eventsourcing.store import EventStore
from shared.runtime.metrics import ServiceMetrics
from shared.runtime.service import ServiceContext

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def notification_stream(notification_id: Any) -> str:
    return f"notification-{notification_id}"


def department_address(departments: dict[str, DepartmentAddress],
                       key: str) -> DepartmentAddress | None:
    """A station without its own entry uses the ``liaison_station`` entry, if any."""
    found = departments.get(key)
    if found is None and key.startswith(f"{STATION_PREFIX}:"):
        found = departments.get(STATION_PREFIX)
    return found


@dataclass(frozen=True, slots=True)
class _Deferred:
    until: datetime


@dataclass(frozen=True, slots=True)
class _Sent:
    attempt: int


class NotificationSender:
    def __init__(self, pool: asyncpg.Pool, store: EventStore, settings: NotificationSettings, *,
                 contacts: EnrolmentContacts, worker_channel: Channel,
                 department_channel: Channel, clock: Clock = _now,
                 metrics: ServiceMetrics | None = None) -> None:
        self.pool, self.store, self.settings = pool, store, settings
        self.metrics = metrics
        self.contacts = contacts
        self.worker_channel, self.department_channel = worker_channel, department_channel
        self.clock = clock
        self._slots = asyncio.Semaphore(settings.sender_concurrency)

    async def run(self) -> None:
        while True:
            try:
                sent = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("notification round failed")
                sent = 0
            if sent == 0:
                await asyncio.sleep(self.settings.sender_poll_seconds)

    async def run_once(self) -> int:
        due = await outbox.claim_due(
            self.pool, self.clock(), limit=self.settings.sender_batch,
            claim_timeout=timedelta(seconds=self.settings.claim_timeout_seconds))
        await asyncio.gather(*(self._bounded(d) for d in due))
        return len(due)

    async def _bounded(self, due: Due) -> None:
        async with self._slots:
            structlog.contextvars.bind_contextvars(correlation_id=due.correlation_id)
            try:
                await self.deliver(due)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not stop the others; the claim times out
                log.exception("notification delivery crashed",
                              notification_id=str(due.notification_id))
            finally:
                structlog.contextvars.unbind_contextvars("correlation_id")

    async def deliver(self, due: Due) -> None:
        channel = self.worker_channel if due.recipient_kind == "worker" \
            else self.department_channel
        # A sender killed after the channel took the message and the log recorded it, but
        # before the claim was closed: the notice went out; close it, don't send it again.
        done = await outbox.delivered_attempt(self.pool, due.notification_id)
        if done is not None:
            await self._delivered(due, channel.name, done)
            return
        if due.expires_at is not None and self.clock() >= due.expires_at:
            await self._fail(due, None, "expired", due.attempts, state="expired")
            return
        budget = max(1, self.settings.delivery_attempts - due.attempts)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(budget),
            wait=wait_exponential(multiplier=self.settings.delivery_backoff_seconds,
                                  max=self.settings.delivery_backoff_max_seconds),
            retry=retry_if_exception_type(TransientDeliveryError), reraise=True)
        try:
            async for attempt in retrying:
                with attempt:
                    result = await self._attempt(due, channel)
        except DependencyUnavailable as exc:
            # Enrolment is down (restarting, say): not the channel's fault nor the notice's;
            # it waits rather than failing for good once the retries run out.
            until = self.clock() + timedelta(seconds=self.settings.dependency_retry_seconds)
            await outbox.defer(self.pool, due, until)
            log.info("notification waits for enrolment", notification_id=str(due.notification_id),
                     error=exc.code, until=until.isoformat())
            return
        except DeliveryError as exc:
            attempts = await self._attempts(due)
            await self._fail(due, channel.name, exc.code, attempts)
            return
        if isinstance(result, _Deferred):
            await outbox.defer(self.pool, due, result.until)
            log.info("notification deferred to the contact window",
                      notification_id=str(due.notification_id), until=result.until.isoformat())
            return
        await self._delivered(due, channel.name, result.attempt)

    async def _attempt(self, due: Due, channel: Channel) -> _Sent | _Deferred:
        started = self.clock()
        try:
            message, until = await self._compose(due, channel, started)
            if until is not None:
                await outbox.record_attempt(self.pool, due.notification_id, channel=channel.name,
                                            outcome="deferred", error_code=None,
                                            started_at=started, finished_at=self.clock(),
                                            counts=False)
                return _Deferred(until)
            await channel.send(message)
        except DeliveryError as exc:
            outcome = "transient_error" if exc.retry else "permanent_error"
            await outbox.record_attempt(self.pool, due.notification_id, channel=channel.name,
                                        outcome=outcome, error_code=exc.code,
                                        started_at=started, finished_at=self.clock(),
                                        counts=not isinstance(exc, DependencyUnavailable))
            log.info("notification attempt failed", notification_id=str(due.notification_id),
                     kind=due.kind, channel=channel.name, error=exc.code)
            raise
        attempt = await outbox.record_attempt(
            self.pool, due.notification_id, channel=channel.name, outcome="delivered",
            error_code=None, started_at=started, finished_at=self.clock())
        return _Sent(attempt)

    async def _compose(self, due: Due, channel: Channel,
                       now: datetime) -> tuple[Message, datetime | None]:
        """The message (in memory only) and, if it must wait for the window, until when."""
        personal: dict[str, str] = {}
        if due.recipient_kind == "worker":
            contact = await self.contacts.contact(due.recipient_id)
            when = send_time(now, contact.window, urgent=due.urgent)
            if when > now:
                return _placeholder(due), when
            # the local channel shows the mobile masked, as a stand-in for the phone
            address = contact.mobile if channel.address_kind in ("mobile", None) else None
            personal["name"] = contact.name
            locales = locale_chain(contact.preferred_language)
        else:
            found = department_address(self.settings.departments, due.recipient_id)
            if found is None and channel.address_kind is not None:
                raise PermanentDeliveryError("no_department_address")
            address = None
            if found is not None and channel.address_kind is not None:
                address = getattr(found, channel.address_kind)
            locales = locale_chain(found.language if found else None)
        if channel.address_kind is not None and not address:
            raise PermanentDeliveryError(f"no_{channel.address_kind}")
        try:
            rendered = render(due.kind, due.params, locales=locales, personal=personal)
        except (TemplateMissing, KeyError, ValueError) as exc:
            raise PermanentDeliveryError(f"template_error:{type(exc).__name__}") from None
        return Message(str(due.notification_id), due.recipient_id, address, rendered.subject,
                       rendered.body), None

    async def _attempts(self, due: Due) -> int:
        async with self.pool.acquire() as conn:
            return await conn.fetchval("SELECT attempts FROM notifications "
                                       "WHERE notification_id = $1", due.notification_id)

    def _metadata(self, due: Due) -> Metadata:
        return Metadata(correlation_id=due.correlation_id,
                        causation_id=str(due.source_event_id), actor=Actor(org="notifications"))

    async def _delivered(self, due: Due, channel: str, attempts: int) -> None:
        at = self.clock()
        event = NotificationDelivered(
            notification_id=due.notification_id, kind=due.kind,
            recipient_kind=due.recipient_kind, recipient_id=due.recipient_id,  # type: ignore[arg-type]
            channel=channel, attempts=attempts,  # type: ignore[arg-type]
            source_event_id=due.source_event_id, source_event_type=due.source_event_type,
            delivered_at=at)
        async with self.pool.acquire() as conn, conn.transaction():
            finished = await outbox.finish(conn, due, state="sent", channel=channel,
                                           outcome="delivered", at=at)
            if finished:
                await self.store.append(notification_stream(due.notification_id), 0, [event],
                                        self._metadata(due), conn=conn)
        if finished:
            self._count(channel, "sent")
        log.info("notification delivered", notification_id=str(due.notification_id),
                 kind=due.kind, channel=channel, attempts=attempts)

    async def _fail(self, due: Due, channel: str | None, reason: str, attempts: int, *,
                    state: str = "failed") -> None:
        at = self.clock()
        event = NotificationFailed(
            notification_id=due.notification_id, kind=due.kind,
            recipient_kind=due.recipient_kind, recipient_id=due.recipient_id,  # type: ignore[arg-type]
            channel=channel, attempts=attempts, reason=reason,  # type: ignore[arg-type]
            source_event_id=due.source_event_id, source_event_type=due.source_event_type,
            failed_at=at)
        async with self.pool.acquire() as conn, conn.transaction():
            finished = await outbox.finish(conn, due, state=state, channel=channel,
                                           outcome=reason, at=at)
            if finished:
                await self.store.append(notification_stream(due.notification_id), 0, [event],
                                        self._metadata(due), conn=conn)
        if finished:
            self._count(channel, state)
        log.warning("notification failed", notification_id=str(due.notification_id),
                    kind=due.kind, reason=reason, attempts=attempts)


    def _count(self, channel: str | None, outcome: str) -> None:
        """Counted once per notice, after the commit that records its end (only the sender
        whose claim held records it)."""
        if self.metrics is not None:
            self.metrics.notifications.labels(channel or "none", outcome).inc()


def _placeholder(due: Due) -> Message:
    return Message(str(due.notification_id), due.recipient_id, None, "", "")


def build_channel(kind: str, settings: NotificationSettings) -> Channel:
    if kind == "sms":
        if not settings.sms_gateway_url:
            raise ValueError("SONGJI_SMS_GATEWAY_URL is required for the sms channel")
        token = settings.sms_gateway_token.get_secret_value() \
            if settings.sms_gateway_token else None
        return SmsGateway(settings.sms_gateway_url, token,
                          timeout=settings.http_timeout_seconds)
    if kind == "email":
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        return SmtpEmail(settings.smtp_host, settings.smtp_port, settings.smtp_sender,
                         username=settings.smtp_username, password=password,
                         starttls=settings.smtp_starttls,
                         timeout=settings.smtp_timeout_seconds)
    path = settings.local_channel_path
    return LocalChannel(path if path and str(path) else None)


async def send_notifications(ctx: ServiceContext[NotificationSettings]) -> None:
    """ServiceSpec background job: send due notices until cancelled."""
    settings = ctx.settings
    token = settings.enrolment_token.get_secret_value() if settings.enrolment_token else None
    contacts = EnrolmentContacts(settings.enrolment_url, token,
                                 timeout=settings.http_timeout_seconds)
    worker_channel = build_channel(settings.worker_channel, settings)
    department_channel = build_channel(settings.department_channel, settings)
    sender = NotificationSender(ctx.pool, ctx.store, settings, contacts=contacts,
                                worker_channel=worker_channel,
                                department_channel=department_channel,
                                metrics=ctx.metrics)
    try:
        await sender.run()
    finally:
        await contacts.close()
        for channel in (worker_channel, department_channel):
            close = getattr(channel, "close", None)
            if close is not None:
                await close()
