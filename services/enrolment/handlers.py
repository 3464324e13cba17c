"""Enrolment's command handlers: authorise, load, decide, append and project, in one transaction.

A rule broken anywhere raises before the append, so nothing is stored and nothing published.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.enrolment import projections
from services.enrolment.domain import worker
from services.enrolment.domain.commands import Enrol, RecordIntakeSurvey, RegisterWorker, Withdraw
from services.enrolment.domain.worker import Worker, worker_stream
from services.enrolment.settings import EnrolmentSettings
from services.enrolment.vault import PersonalDataVault
from services.training.domain.catalogue import catalogue_by_code
from shared.aggregate import load
from shared.auth.policy import Action, Organisation, Target, authorise, require
from shared.calendar import programme_today
from shared.contracts import Metadata
from shared.contracts.common import WorkSite
from shared.eventsourcing.db import transaction
from shared.runtime.errors import NotFound
from shared.runtime.service import ServiceContext

# The occupation catalogue is reference data published with the code (see training).
KNOWN_OCCUPATIONS = frozenset(catalogue_by_code())


def _settings(ctx: ServiceContext) -> EnrolmentSettings:
    assert isinstance(ctx.settings, EnrolmentSettings)
    return ctx.settings


def vault_for(ctx: ServiceContext) -> PersonalDataVault:
    settings = _settings(ctx)
    return PersonalDataVault(settings.personal_data_key.get_secret_value(),
                             settings.lookup_key.get_secret_value())


async def register_worker(ctx: ServiceContext, command: RegisterWorker, org: Organisation,
                          metadata: Metadata) -> str:
    require(org, Action.REGISTER_WORKER, Target(site=command.work_site))
    vault = vault_for(ctx)
    index = vault.lookup_index(command.national_id)
    worker_id = uuid.uuid4().hex
    try:
        async with ctx.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchval(
                "SELECT worker_id FROM worker_identities WHERE national_id_index = $1", index)
            events = worker.register(command, Worker(), worker_id=worker_id,
                                     existing_worker_id=existing,
                                     existing_visible=await _may_see(conn, org, existing))
            await conn.execute(
                """INSERT INTO worker_identities
                   (worker_id, national_id_index, sealed, registered_at)
                   VALUES ($1, $2, $3, $4)""",
                worker_id, index, vault.seal(_personal_record(command)), datetime.now(UTC))
            await ctx.store.append(worker_stream(worker_id), 0, events, metadata, conn=conn)
            await projections.project(conn, events)
    except asyncpg.UniqueViolationError:
        # A concurrent registration of the same number won the race.
        async with ctx.pool.acquire() as conn:
            existing = await conn.fetchval(
                "SELECT worker_id FROM worker_identities WHERE national_id_index = $1", index)
            visible = await _may_see(conn, org, existing)
        worker.refuse_duplicate(existing, existing_visible=visible)
        raise
    return worker_id


async def _may_see(conn: asyncpg.Connection, org: Organisation, worker_id: str | None) -> bool:
    """Whether ``org`` may read this worker's record (so may be told its id on a duplicate)."""
    site = await _site_of(conn, worker_id) if worker_id is not None else None
    return site is not None and authorise(org, Action.VIEW_WORKER_RECORD,
                                          Target(site=site)).allowed


def _personal_record(command: RegisterWorker) -> dict[str, Any]:
    """Everything said at registration, sealed; only the event's pseudonymous facts go out."""
    return {"name": command.name, "national_id": command.national_id, "mobile": command.mobile,
            "hometown_county": command.hometown_county,
            "hometown_township": command.hometown_township,
            "household_county": command.household_county,
            "work_site": command.work_site.model_dump(), "employer": command.employer,
            "preferred_language": command.preferred_language,
            "contact_window": command.contact_window}


async def worker_contact(ctx: ServiceContext, worker_id: str, org: Organisation
                         ) -> dict[str, Any]:
    """Name, phone and preferences, for the notifications service at send time only."""
    require(org, Action.VIEW_CONTACT)
    async with ctx.pool.acquire() as conn:
        sealed = await conn.fetchval(
            "SELECT sealed FROM worker_identities WHERE worker_id = $1", worker_id)
    if sealed is None:
        raise NotFound("unknown_worker", f"No worker {worker_id}.")
    record = vault_for(ctx).open(sealed)
    return {"worker_id": worker_id, "name": record["name"], "mobile": record["mobile"],
            "preferred_language": record.get("preferred_language", "zh-CN"),
            "contact_window": record.get("contact_window")}


async def record_intake_survey(ctx: ServiceContext, command: RecordIntakeSurvey,
                               org: Organisation, metadata: Metadata,
                               conn: asyncpg.Connection | None = None) -> str:
    """``conn``: a request's transaction holding its Idempotency-Key (see api.py)."""
    survey_id = uuid.uuid4().hex
    async with transaction(ctx.pool, conn) as conn:
        await _require_for_worker(conn, org, Action.RECORD_INTAKE_SURVEY, command.worker_id)
        state, version = await load(ctx.store, worker_stream(command.worker_id), worker.evolve,
                                    Worker(), conn=conn)
        events = worker.record_survey(command, state, survey_id=survey_id,
                                      known_occupations=KNOWN_OCCUPATIONS, today=programme_today())
        await _append(ctx, conn, command.worker_id, version, events, metadata)
    return survey_id


async def enrol(ctx: ServiceContext, command: Enrol, org: Organisation,
                metadata: Metadata, conn: asyncpg.Connection | None = None) -> str:
    enrolment_id = uuid.uuid4().hex
    async with transaction(ctx.pool, conn) as conn:
        await _require_for_worker(conn, org, Action.ENROL, command.worker_id)
        # Locking the class row serialises enrolments into one class, so two workers can
        # never both take its last place.
        view = await projections.class_view(conn, command.class_id, lock=True)
        certificates = await projections.live_certificates(conn, command.worker_id)
        state, version = await load(ctx.store, worker_stream(command.worker_id), worker.evolve,
                                    Worker(), conn=conn)
        events = worker.enrol(command, state, class_view=view, certificates=certificates,
                              enrolment_id=enrolment_id, today=programme_today(),
                              subsidised_per_year=_settings(ctx).subsidised_trainings_per_year)
        await _append(ctx, conn, command.worker_id, version, events, metadata)
    return enrolment_id


async def withdraw(ctx: ServiceContext, enrolment_id: str, reason: str, org: Organisation,
                   metadata: Metadata) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        worker_id = await projections.worker_of_enrolment(conn, enrolment_id)
        if worker_id is None:
            raise NotFound("enrolment_unknown", "No enrolment has this id.",
                           enrolment_id=enrolment_id)
        await _require_for_worker(conn, org, Action.WITHDRAW, worker_id)
        command = Withdraw(worker_id=worker_id, enrolment_id=enrolment_id, reason=reason)
        state, version = await load(ctx.store, worker_stream(worker_id), worker.evolve, Worker(),
                                    conn=conn)
        record = state.enrolments.get(enrolment_id)
        view = await projections.class_view(conn, record.class_id) if record else None
        events = worker.withdraw(command, state, class_view=view, today=programme_today())
        await _append(ctx, conn, worker_id, version, events, metadata)


async def worker_site(conn: asyncpg.Connection, worker_id: str) -> WorkSite:
    site = await _site_of(conn, worker_id)
    if site is None:
        raise NotFound("worker_unknown", "No worker is registered with this id.",
                       worker_id=worker_id)
    return site


async def _site_of(conn: asyncpg.Connection, worker_id: str) -> WorkSite | None:
    profile = await projections.profile(conn, worker_id)
    if profile is None:
        return None
    return WorkSite(province=profile["province"], city=profile["city"],
                    site_name=profile["site_name"])


async def _require_for_worker(conn: asyncpg.Connection, org: Organisation, action: Action,
                              worker_id: str) -> None:
    """A liaison station acts only for workers at its own sites."""
    require(org, action, Target(site=await worker_site(conn, worker_id)))


async def _append(ctx: ServiceContext, conn: asyncpg.Connection, worker_id: str, version: int,
                  events: list[Any], metadata: Metadata) -> None:
    await ctx.store.append(worker_stream(worker_id), version, events, metadata, conn=conn)
    await projections.project(conn, events)
