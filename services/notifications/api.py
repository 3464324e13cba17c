"""Notifications' HTTP API: the workers it knows, its delivery log, integrators' webhooks.

Every route needs a token (the app refuses without one); who may read or manage what is the
shared policy's (``shared/auth/policy.py``), each route checking its action with ``require``:
the workers it knows and the webhooks are the HR bureau's, the delivery log the HR bureau's
and the auditors'.

Notifications takes two commands, registering and removing a webhook; both accept an
``Idempotency-Key`` (shared/runtime/idempotency.py). Each registration is a new webhook with a
new secret, so a retried one would post every event twice, under a secret the HR bureau never
saw. The kept answer holds the secret, so it is sealed under the webhook secret key, as the
secret itself is.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Request, Response
from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    Field,
    NonNegativeInt,
    UrlConstraints,
    field_validator,
    model_validator,
)

from services.notifications import backfill, projections, receiver_http, webhooks
from services.notifications.consumers import SERVICES
from services.notifications.domain import webhooks as signing
from services.notifications.domain.model import TRADE_UNION, WOMENS_FEDERATION
from services.notifications.domain.receivers import ReceiverPolicy
from services.notifications.settings import NotificationsContext, NotificationSettings
from shared.auth.http import REFUSALS, Acting
from shared.auth.policy import Action, Forbidden, Organisation, authorise, require
from shared.contracts import registered_events
from shared.contracts.bounds import MAX_URL_LENGTH, MAX_WEBHOOK_EVENT_TYPES, ShortText
from shared.eventsourcing.db import transaction
from shared.runtime.errors import DomainError, NotFound
from shared.runtime.idempotency import Idempotent, answer
from shared.runtime.paging import Page, answer_page, iso
from shared.runtime.params import PathId, QueryId

router = APIRouter(tags=["workers"], responses=REFUSALS)
delivery_router = APIRouter(tags=["delivery log"], responses=REFUSALS)
webhook_router = APIRouter(prefix="/webhooks", tags=["integrators"], responses=REFUSALS)


class KnownWorker(BaseModel):
    worker_id: str
    gender: str
    birth_year: int
    registered_at: datetime


@router.get("/workers", response_model=list[KnownWorker],
            summary="Workers notifications has learnt of from the bus (paged)")
async def list_workers(ctx: NotificationsContext, org: Acting, page: Page, request: Request,
                       response: Response) -> list[KnownWorker]:
    require(org, Action.VIEW_KNOWN_WORKERS)
    async with ctx.pool.acquire() as conn:
        rows = await projections.known_workers(
            conn, page.after_as(datetime.fromisoformat, str), page.fetch_size())
    return [KnownWorker(**row) for row in answer_page(
        rows, lambda r: (iso(r["registered_at"]), r["worker_id"]), page, request, response)]


@router.get("/workers/{worker_id}", response_model=KnownWorker,
            responses={404: {"description": "Not (yet) known"}})
async def get_worker(worker_id: PathId, ctx: NotificationsContext, org: Acting) -> KnownWorker:
    require(org, Action.VIEW_KNOWN_WORKERS)
    async with ctx.pool.acquire() as conn:
        row = await projections.known_worker(conn, worker_id)
    if row is None:
        raise NotFound("unknown_worker", f"No worker {worker_id} has been seen yet.")
    return KnownWorker(**row)


# -- the delivery log (ids, kinds, channels, outcomes; never addresses or texts) -------------

class NotificationView(BaseModel):
    notification_id: UUID
    kind: str
    recipient_kind: str
    recipient_id: str
    state: str
    attempts: int
    channel: str | None
    outcome: str | None
    source_event_id: UUID
    source_event_type: str
    not_before: datetime
    created_at: datetime
    finished_at: datetime | None


class AttemptView(BaseModel):
    attempt: int
    channel: str | None
    outcome: str
    error_code: str | None
    started_at: datetime
    finished_at: datetime


class KindSummary(BaseModel):
    kind: str
    state: str
    count: int


# The departments whose follow-up lists are their own notices: role -> recipient id.
OWN_NOTICES = {"union": TRADE_UNION, "womens_federation": WOMENS_FEDERATION}


def readable_recipient(org: Organisation, recipient_id: str | None) -> str | None:
    """The recipient whose notices ``org`` may list: any (or the one asked) for those who read
    the whole delivery log; for a department, its own notices only (403 for another's)."""
    if authorise(org, Action.VIEW_DELIVERY_LOG).allowed:
        return recipient_id
    require(org, Action.VIEW_OWN_NOTICES)
    own = OWN_NOTICES[org.role]
    if recipient_id not in (None, own):
        raise Forbidden("out_of_scope", f"{org.role} reads only the notices addressed to it",
                        action=str(Action.VIEW_OWN_NOTICES), org_id=org.org_id)
    return own


@delivery_router.get("/notifications", response_model=list[NotificationView],
                     summary="Notices and where each stands (paged)")
async def list_notifications(
    ctx: NotificationsContext, org: Acting, page: Page, request: Request, response: Response,
    kind: QueryId = None, state: QueryId = None, recipient_id: QueryId = None,
) -> list[NotificationView]:
    recipient_id = readable_recipient(org, recipient_id)
    async with ctx.pool.acquire() as conn:
        rows = await projections.notifications_page(
            conn, {"kind": kind, "state": state, "recipient_id": recipient_id},
            page.after_as(datetime.fromisoformat, UUID), page.fetch_size())
    return [NotificationView(**r) for r in answer_page(
        rows, lambda r: (iso(r["created_at"]), str(r["notification_id"])), page, request,
        response)]


@delivery_router.get("/notifications/summary", response_model=list[KindSummary],
                     summary="How many notices of each kind are in each state (paged)")
async def summary(ctx: NotificationsContext, org: Acting, page: Page, request: Request,
                  response: Response) -> list[KindSummary]:
    require(org, Action.VIEW_DELIVERY_LOG)
    async with ctx.pool.acquire() as conn:
        rows = await projections.notification_counts(conn, page.after_as(str, str),
                                                     page.fetch_size())
    return [KindSummary(**r) for r in answer_page(
        rows, lambda r: (r["kind"], r["state"]), page, request, response)]


@delivery_router.get("/notifications/{notification_id}/attempts",
                     response_model=list[AttemptView],
                     summary="Every attempt and its outcome (paged)")
async def attempts(notification_id: UUID, ctx: NotificationsContext, org: Acting, page: Page,
                   request: Request, response: Response) -> list[AttemptView]:
    require(org, Action.VIEW_DELIVERY_LOG)
    async with ctx.pool.acquire() as conn:
        rows = await projections.attempts_page(conn, notification_id, *page.after_as(int),
                                               page.fetch_size())
    page_rows = answer_page(rows, lambda r: (r["attempt_id"],), page, request, response)
    return [AttemptView(**{k: v for k, v in r.items() if k != "attempt_id"}) for r in page_rows]


# -- integrators' webhooks (managed by the HR bureau) ----------------------------------------
#
# Registering and removing a webhook are commands that do not go through the kit's event
# pipeline (shared/runtime/commands.py): they append no event, only write notifications' own
# tables (the webhook registry, its pending deliveries), and the contracts have no webhook
# event to model them with (a receiver's address and secret are this service's configuration,
# not a fact of the programme for others to read). They keep the pipeline's rules by hand:
# ``require`` before anything is read or written, an optional Idempotency-Key whose row and
# stored answer commit with the write, all on one transaction.

class InvalidWebhook(DomainError):
    status_code = 422


class WebhookKeyNotConfigured(DomainError):
    status_code = 503


Positions = dict[ShortText, NonNegativeInt]


def _known_services(value: Positions | None) -> Positions | None:
    unknown = sorted(set(value or {}) - set(SERVICES))
    if unknown:
        raise ValueError(f"positions are per publishing service ({', '.join(SERVICES)})")
    return value


class Since(BaseModel):
    since_time: AwareDatetime | None = Field(
        None, description="Events whose time is at or after this")
    since_positions: Positions | None = Field(
        None, max_length=len(SERVICES),
        description="Per publishing service, events after this store position (the "
                    "CloudEvent's position): the last one you have")

    _since_known = field_validator("since_positions")(_known_services)

    @model_validator(mode="after")
    def _some_start(self) -> Since:
        if self.since_time is None and self.since_positions is None:
            raise ValueError("give since_time, since_positions, or both")
        return self

    def wanted(self) -> backfill.BackfillRange:
        return backfill.BackfillRange(since_time=self.since_time,
                                      since_positions=self.since_positions)


class BackfillRequest(Since):
    until_time: AwareDatetime | None = Field(None, description="Events before this time")
    until_positions: Positions | None = Field(
        None, max_length=len(SERVICES),
        description="Per publishing service, events up to this store position (included)")
    redeliver: bool = Field(False, description="Also send again the events this webhook was "
                                               "already delivered (failed ones always are)")

    _until_known = field_validator("until_positions")(_known_services)

    @model_validator(mode="after")
    def _ordered(self) -> BackfillRequest:
        if self.since_time and self.until_time and self.until_time <= self.since_time:
            raise ValueError("until_time must be after since_time")
        return self

    def wanted(self) -> backfill.BackfillRange:
        return backfill.BackfillRange(self.since_time, self.until_time, self.since_positions,
                                      self.until_positions, self.redeliver)


class BackfillProgress(BaseModel):
    backfill_id: UUID
    webhook_id: UUID
    since_time: datetime | None
    until_time: datetime | None
    since_positions: dict[str, int] | None
    until_positions: dict[str, int] | None
    redeliver: bool
    state: str = Field(description="pending (waiting to be scanned), scanning, done (every "
                                   "matching event queued), limited (the bound was reached: "
                                   "request again with next_since_positions), cancelled")
    records_read: int
    records_refused: int = Field(description="Records skipped as not genuine or unreadable")
    events_queued: int
    events_already: int = Field(description="Matching events the webhook already had queued "
                                            "or delivered")
    next_since_positions: dict[str, int] | None
    created_at: datetime
    finished_at: datetime | None
    deliveries: dict[str, int] = Field(description="The queued deliveries by state (pending, "
                                                   "claimed, delivered, failed, cancelled)")


class WebhookRequest(BaseModel):
    url: Annotated[AnyHttpUrl, UrlConstraints(max_length=MAX_URL_LENGTH)] = Field(
        description="Where to POST the events: https, at an address on the public internet "
                    "(every address the name resolves to); checked again before every delivery")
    event_types: list[ShortText] = Field(min_length=1, max_length=MAX_WEBHOOK_EVENT_TYPES,
                                         description="CloudEvents types, e.g. "
                                         "songji.assessment.SkillLevelCertified.v1")
    description: str | None = Field(None, max_length=200)
    secret: str | None = Field(
        None, max_length=200,
        description="Your own signing secret, as Standard Webhooks libraries make them: "
                    "whsec_ and the standard base64 of 24 to 64 random bytes. Left out: "
                    "Songji generates one and answers it once.")

    backfill: Since | None = Field(
        None, description="Also deliver the past events of the chosen types since a time "
                          "and/or store positions (see POST /webhooks/{id}/backfill)")

    @field_validator("secret")
    @classmethod
    def _standard_secret(cls, value: str | None) -> str | None:
        return None if value is None else signing.checked_secret(value)


class Webhook(BaseModel):
    webhook_id: UUID
    url: str
    event_types: list[str]
    description: str | None
    registered_by: str | None
    created_at: datetime


class RegisteredWebhook(Webhook):
    backfill: BackfillProgress | None = Field(
        None, description="The backfill asked for: GET /webhooks/{id}/backfill/{backfill_id}")
    secret: str = Field(description="Shown once: the Standard Webhooks secret (whsec_...) that "
                                    "signs webhook-signature (and, for one more release, "
                                    "X-Songji-Signature)")


class DeliveryView(BaseModel):
    delivery_id: UUID = Field(description="Also the webhook-id header of every attempt")
    event_id: UUID
    event_type: str
    backfill_id: UUID | None = Field(None, description="The backfill that queued it last, if "
                                                       "one did")
    state: str
    attempts: int
    last_status: int | None
    created_at: datetime
    finished_at: datetime | None
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried "
                                                         "(again)")
    attempt_log: list[dict[str, Any]]


async def _check_receiver(url: str, settings: NotificationSettings) -> None:
    """422 unless Songji may post to ``url``: see domain/receivers.py. Nothing is sent to it."""
    try:
        async with asyncio.timeout(settings.webhook_deadline_seconds):
            await receiver_http.check_receiver(
                url, ReceiverPolicy(allow_local=settings.webhook_allow_local))
    except receiver_http.ReceiverRefused as refused:
        raise InvalidWebhook("webhook_receiver_refused", _REFUSALS.get(
            refused.reason, "The receiver's address is not on the public internet."),
            reason=refused.reason) from None
    except (receiver_http.ReceiverUnresolvable, TimeoutError):
        raise InvalidWebhook("webhook_receiver_refused", "The receiver's host name does not "
                             "resolve.", reason="unresolvable") from None


_REFUSALS = {
    "https_required": "The receiver must be an https URL.",
    "loopback": "The receiver's address is a loopback address (this machine).",
    "private": "The receiver's address is a private network address.",
    "link_local": "The receiver's address is link-local (such as the cloud metadata "
                  "service, 169.254.169.254).",
}


@webhook_router.post("", status_code=201, response_model=RegisteredWebhook,
                     summary="Register a webhook; the secret is in this answer only")
async def register_webhook(body: WebhookRequest, ctx: NotificationsContext, org: Acting,
                           once: Idempotent) -> Response:
    require(org, Action.MANAGE_WEBHOOKS)
    known = registered_events()
    unknown = sorted(set(body.event_types) - set(known))
    if unknown:
        raise InvalidWebhook("unknown_event_types", "No such event types.", unknown=unknown)
    try:
        box = webhooks.SecretBox.from_settings(ctx.settings)
    except webhooks.WebhookKeyMissing:
        raise WebhookKeyNotConfigured(
            "webhook_key_missing", "SONGJI_WEBHOOK_SECRET_KEY is not configured.") from None
    await _check_receiver(str(body.url), ctx.settings)

    async def register(conn: asyncpg.Connection | None) -> Response:
        row, secret = await webhooks.register(ctx.pool, box, url=str(body.url),
                                              event_types=body.event_types,
                                              description=body.description,
                                              registered_by=org.org_id, secret=body.secret,
                                              history=None if body.backfill is None
                                              else body.backfill.wanted(),
                                              conn=conn)
        return answer(201, RegisteredWebhook(**row, secret=secret))

    return await once.run(ctx.pool, org.org_id, register, sealer=box.sealer())


@webhook_router.get("", response_model=list[Webhook], summary="Registered webhooks (paged)")
async def list_webhooks(ctx: NotificationsContext, org: Acting, page: Page, request: Request,
                        response: Response) -> list[Webhook]:
    require(org, Action.MANAGE_WEBHOOKS)
    rows = await webhooks.list_webhooks(ctx.pool, page.after_as(datetime.fromisoformat, UUID),
                                        page.fetch_size())
    return [Webhook(**row) for row in answer_page(
        rows, lambda r: (iso(r["created_at"]), str(r["webhook_id"])), page, request, response)]


@webhook_router.get("/{webhook_id}", response_model=Webhook)
async def get_webhook(webhook_id: UUID, ctx: NotificationsContext, org: Acting) -> Webhook:
    require(org, Action.MANAGE_WEBHOOKS)
    row = await webhooks.get_webhook(ctx.pool, webhook_id)
    if row is None:
        raise NotFound("unknown_webhook", f"No webhook {webhook_id}.")
    return Webhook(**row)


@webhook_router.delete("/{webhook_id}", status_code=204,
                       summary="Stop delivering; undelivered events are cancelled")
async def delete_webhook(webhook_id: UUID, ctx: NotificationsContext, org: Acting,
                         once: Idempotent) -> Response:
    require(org, Action.MANAGE_WEBHOOKS)

    async def delete(conn: asyncpg.Connection | None) -> Response:
        if not await webhooks.delete_webhook(ctx.pool, webhook_id, conn=conn):
            raise NotFound("unknown_webhook", f"No webhook {webhook_id}.")
        return Response(status_code=204)

    return await once.run(ctx.pool, org.org_id, delete)


@webhook_router.get("/{webhook_id}/deliveries", response_model=list[DeliveryView],
                    summary="The delivery log of a webhook: every event and every attempt "
                            "(paged)")
async def webhook_deliveries(webhook_id: UUID, ctx: NotificationsContext, org: Acting,
                             page: Page, request: Request,
                             response: Response) -> list[DeliveryView]:
    require(org, Action.MANAGE_WEBHOOKS)
    rows = await webhooks.deliveries(ctx.pool, webhook_id,
                                     page.after_as(datetime.fromisoformat, UUID),
                                     page.fetch_size())
    return [DeliveryView(**row) for row in answer_page(
        rows, lambda r: (iso(r["created_at"]), str(r["delivery_id"])), page, request, response)]


@webhook_router.post("/{webhook_id}/backfill", status_code=202, response_model=BackfillProgress,
                     responses={404: {"description": "No such webhook"}},
                     summary="Deliver a past range of events again (bounded, paced, in order "
                             "per stream); its progress at the Location")
async def request_backfill(webhook_id: UUID, body: BackfillRequest, ctx: NotificationsContext,
                           org: Acting, once: Idempotent) -> Response:
    require(org, Action.MANAGE_WEBHOOKS)

    async def ask(conn: asyncpg.Connection | None) -> Response:
        async with transaction(ctx.pool, conn) as conn:
            if await conn.fetchval("SELECT true FROM webhooks WHERE webhook_id = $1 AND "
                                   "deleted_at IS NULL FOR SHARE", webhook_id) is None:
                raise NotFound("unknown_webhook", f"No webhook {webhook_id}.")
            row = await backfill.request(conn, webhook_id, body.wanted())
        response = answer(202, BackfillProgress(**row))
        response.headers["Location"] = f"/webhooks/{webhook_id}/backfill/{row['backfill_id']}"
        return response

    return await once.run(ctx.pool, org.org_id, ask)


@webhook_router.get("/{webhook_id}/backfill/{backfill_id}", response_model=BackfillProgress,
                    responses={404: {"description": "No such backfill of this webhook"}},
                    summary="How far a backfill is: its scan, and its deliveries by state")
async def backfill_progress(webhook_id: UUID, backfill_id: UUID, ctx: NotificationsContext,
                            org: Acting) -> BackfillProgress:
    require(org, Action.MANAGE_WEBHOOKS)
    row = await backfill.progress(ctx.pool, webhook_id, backfill_id)
    if row is None:
        raise NotFound("unknown_backfill", f"No backfill {backfill_id} of webhook {webhook_id}.")
    return BackfillProgress(**row)
