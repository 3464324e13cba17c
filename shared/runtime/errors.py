"""Errors a command can end in, and how the API reports them.

Malformed input is FastAPI's 422, naming each field. A broken business rule is a DomainError:
409 with a machine-readable code and a sentence. Either way nothing is stored or published,
because handlers raise before they append.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from shared.eventsourcing.store import ConcurrencyError


class DomainError(Exception):
    status_code = 409

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class NotFound(DomainError):
    status_code = 404


NUL = "\x00"
# The deepest JSON any route takes is a policy's uplift inside its list (4 levels); a body
# nested far deeper is refused rather than walked.
MAX_JSON_DEPTH = 32


async def refuse_nul_characters(request: Request) -> None:
    """App-wide dependency: text with U+0000 in it is malformed input (422, naming where).

    PostgreSQL's text and jsonb cannot hold that character, so it would otherwise fail the
    append (or the query) with a 500. Raw NUL bytes are invalid JSON already; this catches
    the ``\\u0000`` escape in JSON bodies, and NUL in the path, the query and the headers.
    The body is walked without recursion and only to ``MAX_JSON_DEPTH``: a body nested deeper
    is refused as such (422), whatever it holds.
    """
    where: list[tuple[Any, ...]] = [("path", name) for name, value in request.path_params.items()
                                    if NUL in str(value)]
    where += [("query", name) for name, value in request.query_params.multi_items()
              if NUL in name or NUL in value]
    where += [("header", name) for name, value in request.headers.items() if NUL in value]
    if request.method in ("POST", "PUT", "PATCH"):
        body = await request.body()
        if b"\\u0000" in body:
            try:
                where += [("body", *loc) for loc in _nul_locations(json.loads(body))]
            except ValueError:
                pass  # not JSON: the route's own validation says so
            except (RecursionError, TooDeep):
                raise RequestValidationError([{
                    "loc": ("body",), "type": "too_deeply_nested",
                    "msg": f"JSON nested deeper than {MAX_JSON_DEPTH} levels"}]) from None
    if where:
        raise RequestValidationError([{"loc": loc, "type": "nul_character",
                                       "msg": "Text must not contain the NUL character"}
                                      for loc in where])


class TooDeep(Exception):
    pass


_KEY = object()


def _nul_locations(document: Any) -> list[tuple[Any, ...]]:
    """Where in a parsed JSON document a key or a string holds NUL, in document order; raises
    TooDeep past ``MAX_JSON_DEPTH``. A stack, not recursion: the depth costs no frames."""
    found: list[tuple[Any, ...]] = []
    # (where, value); a key holding NUL is pushed as (where, _KEY) just above its value, so
    # it is reported before whatever the value holds.
    stack: list[tuple[tuple[Any, ...], Any]] = [((), document)]
    while stack:
        loc, value = stack.pop()
        if len(loc) > MAX_JSON_DEPTH:
            raise TooDeep(len(loc))
        if value is _KEY or (isinstance(value, str) and NUL in value):
            found.append(loc)
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                stack.append(((*loc, key), item))
                if NUL in key:
                    stack.append(((*loc, key), _KEY))
        elif isinstance(value, list):
            stack.extend(((*loc, i), item) for i, item in reversed(list(enumerate(value))))
    return found


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Name each field and what is wrong, but never echo the input back: it may be a
        # national ID number or a phone, and responses end up in proxies' and clients' logs.
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                  for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": errors})

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        # FastAPI answers a body it cannot even decode (not UTF-8) with a bare 400, where
        # undecodable JSON gets 422; both are malformed input, so both get the 422 convention.
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            return JSONResponse(status_code=422, content={"detail": [
                {"loc": ["body"], "msg": "The body is not UTF-8 text", "type": "body_not_utf8"}]})
        return await http_exception_handler(request, exc)

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        body = {"code": exc.code, "message": exc.message, **exc.details}
        return JSONResponse(status_code=exc.status_code, content=body)

    @app.exception_handler(ConcurrencyError)
    async def concurrency_error(_: Request, exc: ConcurrencyError) -> JSONResponse:
        # The command pipeline has already made the command again as often as it may
        # (shared/runtime/commands.py); the client is told when trying again makes sense.
        retry_after = getattr(exc, "retry_after", 1)
        return JSONResponse(
            status_code=409, headers={"Retry-After": str(retry_after)},
            content={"code": "concurrent_update", "message": str(exc)},
        )
