"""Enrolment's command handlers: load, decide, append (with the sealed identity, atomically)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from services.enrolment.domain.registration import (
    RegisterWorker,
    decide_registration,
    worker_stream,
)
from services.enrolment.vault import PersonalDataVault
from shared.contracts import Metadata
from shared.runtime.errors import DomainError
from shared.runtime.service import ServiceContext


def vault_for(ctx: ServiceContext) -> PersonalDataVault:
    settings = ctx.settings
    return PersonalDataVault(settings.personal_data_key.get_secret_value(),  # type: ignore[attr-defined]
                             settings.lookup_key.get_secret_value())  # type: ignore[attr-defined]


async def register_worker(ctx: ServiceContext, command: RegisterWorker,
                          metadata: Metadata) -> str:
    vault = vault_for(ctx)
    index = vault.lookup_index(command.national_id.number)
    worker_id = uuid.uuid4().hex
    events = decide_registration(command, worker_id=worker_id)
    try:
        async with ctx.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchval(
                "SELECT worker_id FROM worker_identities WHERE national_id_index = $1", index)
            if existing:
                raise _already_registered(existing)
            await conn.execute(
                """INSERT INTO worker_identities
                   (worker_id, national_id_index, sealed, registered_at)
                   VALUES ($1, $2, $3, $4)""",
                worker_id, index,
                vault.seal({"name": command.name, "national_id": command.national_id.number,
                            "mobile": command.mobile}),
                datetime.now(UTC),
            )
            await ctx.store.append(worker_stream(worker_id), 0, events, metadata, conn=conn)
    except asyncpg.UniqueViolationError:
        # A concurrent registration of the same number won the race.
        async with ctx.pool.acquire() as conn:
            existing = await conn.fetchval(
                "SELECT worker_id FROM worker_identities WHERE national_id_index = $1", index)
        raise _already_registered(existing) from None
    return worker_id


def _already_registered(worker_id: str) -> DomainError:
    return DomainError("worker_already_registered",
                       "A worker with this national ID number is already registered.",
                       worker_id=worker_id)
