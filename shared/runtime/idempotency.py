"""``Idempotency-Key``: a command retried after its answer was lost gets that answer again,
and takes effect once.

A client on a bad link (a liaison station, an HR bureau's office) cannot tell a request that
never arrived from one whose answer was lost, so it retries. For a command whose retry would
create a second record or version (a survey with a new id, a new policy version), or whose
answer cannot be had again (the bank file of a payment instruction), the client sends a key
of its choosing (a UUID) with the request, as in the IETF httpapi *Idempotency-Key* draft:

- the first request with a key claims it (a row in the service's own PostgreSQL, primary key
  (acting organisation, key)) **first** in the transaction of the command, does its effect and
  stores its answer in that same transaction: a crash leaves both or neither;
- a retry with the same key and the same request (method, path, canonical body) gets the
  stored answer, marked ``Idempotent-Replayed: true``, with no second effect;
- the same key with a different request is refused (422 ``idempotency_key_reused``) and
  nothing is stored;
- a duplicate arriving while the first is in flight waits on the key's row until the first
  commits (then gets its answer) or rolls back (then runs itself); after
  ``IN_FLIGHT_WAIT`` it is refused (409 ``idempotency_key_in_use``), to retry later.

Keys are scoped by the acting organisation: two stations may pick the same key. A refused
command (4xx) stores nothing, so its retry is decided afresh. Requests without a key work as
before. Answers are kept (a retry days later must not pay twice); an answer that holds what
the service must not keep in clear is stored sealed (see ``Sealer``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Protocol

import asyncpg
import structlog
from cryptography.fernet import Fernet
from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from shared.eventsourcing.hashing import canonical_json
from shared.runtime.errors import DomainError

log = structlog.get_logger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IN_FLIGHT_WAIT = "10s"  # PostgreSQL lock_timeout while waiting on a duplicate in flight
# Headers that the transport sets or the correlation middleware adds afresh on each answer.
_NOT_STORED = frozenset({"content-length", "x-correlation-id"})

Effect = Callable[[asyncpg.Connection | None], Awaitable[Response]]


class KeyReused(DomainError):
    status_code = 422


class Sealer(Protocol):
    """Encrypts a stored answer's body, and opens it for a replay."""

    def seal(self, data: bytes) -> bytes: ...

    def open(self, data: bytes) -> bytes: ...


class FernetSealer:
    """Sealed under one key (see ``IdempotentRequest.request_sealer``; a service's own keys are
    a ``shared.runtime.keys.KeyRing``, which is a ``Sealer`` too)."""

    def __init__(self, key: str | bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def open(self, data: bytes) -> bytes:
        return self._fernet.decrypt(data)


@dataclass(frozen=True)
class IdempotentRequest:
    """What a command endpoint needs to run at most once per key: the key (or None), the
    request's fingerprint, and its canonical body (to seal an answer with, see below)."""

    key: str | None
    method: str
    path: str
    fingerprint: bytes
    canonical_body: bytes

    def request_sealer(self) -> Sealer:
        """Seals the answer under a key derived from the request's body, so only a retry that
        carries the very same body can read it back. For answers made of what the request
        carried and the service must not store (the bank accounts in a payment instruction's
        file): the database holds the answer only in a form it cannot read by itself. The
        derivation differs from the fingerprint's, which cannot give the key."""
        digest = hashlib.sha256(b"songji idempotency seal\x00" + self.canonical_body).digest()
        return FernetSealer(base64.urlsafe_b64encode(digest))

    async def run(self, pool: asyncpg.Pool, org_id: str, effect: Effect, *,
                  sealer: Sealer | None = None) -> Response:
        """Run ``effect`` once for this key. Without a key it gets ``None`` and opens its own
        transaction as usual; with one it gets the connection whose transaction holds the
        key's row, and must do all its writes on it."""
        if self.key is None:
            return await effect(None)
        try:
            async with pool.acquire() as conn, conn.transaction():
                stored = await self._claim(conn, org_id)
                if stored is not None:
                    return self._replay(stored, sealer)
                response = await effect(conn)
                if response.status_code >= 400:
                    # A refusal has no effect and is not stored: a retry is decided afresh.
                    raise _Refused(response)
                await self._store(conn, org_id, response, sealer)
                return response
        except _Refused as refused:
            return refused.response

    async def run_answered(self, pool: asyncpg.Pool, org_id: str, status_code: int,
                           effect: Callable[[asyncpg.Connection | None], Awaitable[object]]
                           ) -> Response:
        """``run`` for the usual command: ``effect``'s result is the answer, as JSON with
        ``status_code`` (see ``answer``)."""
        async def respond(conn: asyncpg.Connection | None) -> Response:
            return answer(status_code, await effect(conn))

        return await self.run(pool, org_id, respond)

    async def _claim(self, conn: asyncpg.Connection, org_id: str) -> asyncpg.Record | None:
        """Insert the key's row, or return the stored answer of an earlier request with it.

        The insert comes first so that a duplicate in flight blocks on the primary key until
        this transaction ends, instead of both passing a look-up and both taking effect."""
        previous = await conn.fetchval(
            "SELECT current_setting('lock_timeout'), set_config('lock_timeout', $1, true)",
            IN_FLIGHT_WAIT)
        try:
            inserted = await conn.fetchval(
                "INSERT INTO idempotency_keys (org_id, key, fingerprint) VALUES ($1, $2, $3) "
                "ON CONFLICT (org_id, key) DO NOTHING RETURNING true",
                org_id, self.key, self.fingerprint)
        except asyncpg.LockNotAvailableError:
            raise DomainError("idempotency_key_in_use",
                              "A request with this Idempotency-Key is still in progress; "
                              "retry it later.") from None
        await conn.execute("SELECT set_config('lock_timeout', $1, true)", previous)
        if inserted:
            return None
        row = await conn.fetchrow(
            "SELECT fingerprint, status_code, headers, body, sealed FROM idempotency_keys "
            "WHERE org_id = $1 AND key = $2", org_id, self.key)
        assert row is not None and row["status_code"] is not None  # written with the effect
        if bytes(row["fingerprint"]) != self.fingerprint:
            raise KeyReused("idempotency_key_reused",
                            "This Idempotency-Key was used for a different request (method, "
                            "path or body); use a new key for a new request.")
        return row

    def _replay(self, row: asyncpg.Record, sealer: Sealer | None) -> Response:
        body = bytes(row["body"] or b"")
        if row["sealed"]:
            if sealer is None:  # cannot happen: the same route seals the same way
                raise RuntimeError("a sealed answer needs the route's sealer")
            body = sealer.open(body)
        log.info("idempotent replay", method=self.method, path=self.path)
        return Response(content=body, status_code=row["status_code"],
                        headers={**row["headers"], REPLAYED_HEADER: "true"})

    async def _store(self, conn: asyncpg.Connection, org_id: str, response: Response,
                     sealer: Sealer | None) -> None:
        body = bytes(response.body)
        headers = {k: v for k, v in response.headers.items() if k.lower() not in _NOT_STORED}
        await conn.execute(
            "UPDATE idempotency_keys SET status_code = $3, headers = $4, body = $5, sealed = $6 "
            "WHERE org_id = $1 AND key = $2",
            org_id, self.key, response.status_code, headers,
            sealer.seal(body) if sealer else body, sealer is not None)


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def idempotent_request(
    request: Request,
    key: Annotated[str | None, Header(
        alias=HEADER, min_length=1, max_length=255, pattern=r"^[!-~]+$",
        description="A key of the client's choosing (a UUID), the same on every retry of "
                    "one request: the first request with it takes effect and its answer is "
                    "kept; a retry with the same key and the same request gets that answer "
                    "again (header Idempotent-Replayed: true) with no second effect; the same "
                    "key with another request is refused (422 idempotency_key_reused). "
                    "Scoped by the acting organisation. Optional.")] = None,
) -> IdempotentRequest:
    if key is None:  # nothing is kept, so nothing to compare a retry with: no fingerprint
        return IdempotentRequest(key=None, method=request.method, path=request.url.path,
                                 fingerprint=b"", canonical_body=b"")
    raw = await request.body()
    try:
        canonical = canonical_json(json.loads(raw)) if raw else b""
    except ValueError:
        canonical = raw  # not JSON: the route's own validation refuses it anyway
    query = "&".join(sorted(f"{k}={v}" for k, v in request.query_params.multi_items()))
    target = request.url.path + (f"?{query}" if query else "")
    fingerprint = hashlib.sha256(b"\x00".join(
        [b"songji idempotency fingerprint", request.method.encode(), target.encode(),
         canonical])).digest()
    return IdempotentRequest(key=key, method=request.method, path=request.url.path,
                             fingerprint=fingerprint, canonical_body=canonical)


Idempotent = Annotated[IdempotentRequest, Depends(idempotent_request)]


def answer(status_code: int, content: object) -> Response:
    """A JSON answer built by the route itself (so that it can be stored as sent), encoded as
    FastAPI encodes a returned value."""
    return JSONResponse(status_code=status_code, content=jsonable_encoder(content))
