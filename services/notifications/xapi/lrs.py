"""Sends the queued xAPI statements to the Learning Record Store, oldest first.

A batch is claimed with ``FOR UPDATE SKIP LOCKED`` and held for the one request that sends it
(bounded by ``xapi_timeout_seconds``), so replicas never send the same statement at once; a
statement sent twice anyway (a crash after the LRS stored it) is the same statement under the
same id, which an LRS stores once (xAPI 1.0.3, Data 2.4.1).

2xx: sent. No answer, 5xx, 401, 403, 408 or 429: the whole batch waits (backoff doubling to a
cap) and is tried again until ``xapi_attempts`` are used; an LRS that is down or whose
credentials are being fixed loses nothing. Another 4xx refuses something in the batch: its
statements are then sent one by one (PUT with the statement id), so only a statement the LRS
itself refuses is failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import structlog

from services.notifications.xapi.settings import XapiSettings
from services.notifications.xapi.statements import XAPI_VERSION, with_home_page
from shared.runtime.service import ServiceContext

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]

_CLAIM = """SELECT statement_id, statement, attempts FROM xapi_statements
            WHERE state = 'pending' AND not_before <= $1
            ORDER BY not_before, created_at LIMIT $2 FOR UPDATE SKIP LOCKED"""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Answer:
    status: int | None
    error: str | None  # None: stored
    retry: bool = False


def judge(status: int | None, error: str | None = None) -> Answer:
    """What an LRS's answer (or no answer) means for the statements sent."""
    if status is None:
        return Answer(None, error or "unreachable", retry=True)
    if 200 <= status < 300:
        return Answer(status, None)
    retry = status >= 500 or status in (401, 403, 408, 429)
    return Answer(status, f"status:{status}", retry=retry)


def retry_delay(attempts_made: int, *, first_seconds: float, cap_seconds: float) -> timedelta:
    doublings = min(max(attempts_made - 1, 0), 32)
    return timedelta(seconds=min(first_seconds * 2 ** doublings, cap_seconds))


class LrsSender:
    def __init__(self, pool: asyncpg.Pool, settings: XapiSettings, client: httpx.AsyncClient,
                 *, clock: Clock = _now) -> None:
        assert settings.xapi_lrs_url is not None
        self.pool, self.settings, self.client, self.clock = pool, settings, client, clock
        self.statements_url = settings.xapi_lrs_url.rstrip("/") + "/statements"

    async def run(self) -> None:
        while True:
            try:
                sent = await self.send_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("xapi round failed")
                sent = 0
            if not sent:
                await asyncio.sleep(self.settings.xapi_poll_seconds)

    async def send_due(self) -> int:
        """Send one batch of due statements; answers how many were claimed."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, self.clock(), self.settings.xapi_batch)
            if not rows:
                return 0
            ready = [(r["statement_id"], r["attempts"],
                      with_home_page(r["statement"], self.settings.xapi_home_page))
                     for r in rows]
            answer = await self._post([s for _, _, s in ready])
            if answer.error is not None and not answer.retry and len(ready) > 1:
                for one in ready:  # find the statement the LRS refuses
                    await self._settle(conn, [one], await self._put(one[0], one[2]))
            else:
                await self._settle(conn, ready, answer)
        return len(rows)

    async def _post(self, statements: list[dict[str, Any]]) -> Answer:
        return await self._request("POST", json=statements)

    async def _put(self, statement_id: UUID, statement: dict[str, Any]) -> Answer:
        return await self._request("PUT", json=statement,
                                   params={"statementId": str(statement_id)})

    async def _request(self, method: str, **kwargs: Any) -> Answer:
        try:
            response = await self.client.request(method, self.statements_url, **kwargs)
        except httpx.TimeoutException:
            return judge(None, "timeout")
        except httpx.TransportError as exc:
            return judge(None, f"unreachable:{type(exc).__name__}")
        return judge(response.status_code)

    async def _settle(self, conn: asyncpg.Connection,
                      claimed: Sequence[tuple[UUID, int, dict[str, Any]]],
                      answer: Answer) -> None:
        now = self.clock()
        ids = [statement_id for statement_id, _, _ in claimed]
        if answer.error is None:
            await conn.execute(
                "UPDATE xapi_statements SET state = 'sent', sent_at = $2, attempts = attempts + 1, "
                "last_error = NULL WHERE statement_id = ANY($1::uuid[])", ids, now)
            log.info("xapi statements sent", count=len(ids))
            return
        for statement_id, attempts, _ in claimed:
            made = attempts + 1
            if answer.retry and made < self.settings.xapi_attempts:
                wait = retry_delay(made, first_seconds=self.settings.xapi_backoff_seconds,
                                   cap_seconds=self.settings.xapi_backoff_max_seconds)
                await conn.execute(
                    "UPDATE xapi_statements SET attempts = $2, last_error = $3, not_before = $4 "
                    "WHERE statement_id = $1", statement_id, made, answer.error, now + wait)
            else:
                await conn.execute(
                    "UPDATE xapi_statements SET state = 'failed', attempts = $2, "
                    "last_error = $3 WHERE statement_id = $1", statement_id, made, answer.error)
                log.warning("xapi statement failed", statement_id=str(statement_id),
                            error=answer.error, attempts=made)
        if answer.retry:
            log.info("xapi statements wait for the LRS", count=len(ids), error=answer.error)


def lrs_client(settings: XapiSettings) -> httpx.AsyncClient:
    auth = None
    if settings.xapi_lrs_username is not None:
        password = (settings.xapi_lrs_password.get_secret_value()
                    if settings.xapi_lrs_password else "")
        auth = httpx.BasicAuth(settings.xapi_lrs_username, password)
    return httpx.AsyncClient(auth=auth, timeout=settings.xapi_timeout_seconds,
                             follow_redirects=False,
                             headers={"X-Experience-API-Version": XAPI_VERSION})


async def send_statements(ctx: ServiceContext[XapiSettings]) -> None:
    """ServiceSpec background job: send queued statements until cancelled. Without an LRS
    configured it only waits; the statements are kept."""
    if ctx.settings.xapi_lrs_url is None:
        await asyncio.Event().wait()
        return
    async with lrs_client(ctx.settings) as client:
        await LrsSender(ctx.pool, ctx.settings, client).run()
