"""The correlation id of every request: the caller's ``X-Correlation-ID`` when acceptable
(``correlation_id_from``), else a fresh one; on ``request.state.correlation_id``, bound to every
log line of the request, and sent back in the answer's ``X-Correlation-ID``.

Plain ASGI rather than a ``@app.middleware("http")`` function: Starlette runs those in a task
of their own with the answer streamed through a memory channel, which costs more than
everything else a small command's request does before its handler."""

from __future__ import annotations

import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.runtime.limits import correlation_id_from

HEADER = "X-Correlation-ID"
_HEADER_BYTES = HEADER.lower().encode()


class CorrelationMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = correlation_id_from(Headers(scope=scope).get(HEADER))
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        encoded = correlation_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != _HEADER_BYTES]
                message = {**message, "headers": [*headers, (_HEADER_BYTES, encoded)]}
            await send(message)

        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("correlation_id")
