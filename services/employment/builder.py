"""The background job that builds queued vacancies' matches (services/employment/matches.py):
those too many to score in the posting's transaction, and all of them after an upgrade or a
rebuild. Every copy of the service runs it; a vacancy is claimed with FOR UPDATE SKIP LOCKED,
one chunk per transaction."""

from __future__ import annotations

import asyncio

import structlog

from services.employment import matches
from services.employment.settings import EmploymentSettings
from shared.runtime.service import ServiceContext

log = structlog.get_logger()

IDLE_SECONDS = 2.0


async def build_matches(ctx: ServiceContext[EmploymentSettings]) -> None:
    while True:
        try:
            done = await matches.build_queued(ctx.pool)
            if done:
                log.info("matches built", chunks=done)
        except Exception as exc:  # the database away: try again later
            log.warning("building matches failed, retrying", error=repr(exc))
        await asyncio.sleep(IDLE_SECONDS)
