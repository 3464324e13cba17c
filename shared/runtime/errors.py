"""Errors a command can end in, and how the API reports them.

Malformed input is FastAPI's 422, naming each field. A broken business rule is a DomainError:
409 with a machine-readable code and a sentence. Either way nothing is stored or published,
because handlers raise before they append.
"""

from __future__ import annotations

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
        return JSONResponse(
            status_code=409,
            content={"code": "concurrent_update", "message": str(exc)},
        )
