"""What a request may weigh, checked before anything else reads it (an ASGI middleware).

It wraps the whole app, so it runs before the correlation id, the authentication and the
input checks, and costs a caller nothing to be refused:

- a request with too many headers, or headers too long, is answered 431 at once;
- a body whose declared ``Content-Length`` is above the limit is answered 413 without a byte
  of it being read; a body sent without a length (chunked) is counted as it arrives and
  refused with 413 once it passes the limit, so at most the limit is ever held in memory;
- a ``Content-Length`` that is not a number is answered 400.

The server adds its own bound on the request line and headers together
(``h11_max_incomplete_event_size``, shared/runtime/main.py), so a header block too large for
this check never even reaches it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MIB = 1024 * 1024
DEFAULT_MAX_BODY_BYTES = MIB
"""No valid request of any service comes near it: the largest are a funding policy with every
rate and a bank file's accounts, each well under (tests/unit/test_request_limits.py)."""
DEFAULT_MAX_HEADERS = 64
DEFAULT_MAX_HEADER_BYTES = 8 * 1024
"""One header's name and value; the bearer tokens and the correlation id are far shorter."""
DEFAULT_MAX_HEADER_BLOCK_BYTES = 16 * 1024
"""All the headers together (h11's default bound on the request line and headers is 16 KiB)."""

# A correlation id is the caller's to choose, but it goes into every event's headers and every
# log line of the request: it is kept only when short and made of safe characters.
MAX_CORRELATION_ID_LENGTH = 128
_CORRELATION_ID = re.compile(rf"^[A-Za-z0-9._:@/+=-]{{1,{MAX_CORRELATION_ID_LENGTH}}}$")


def correlation_id_from(given: str | None) -> str:
    """The caller's correlation id when it is acceptable; otherwise (absent, too long, or with
    characters outside ``A-Z a-z 0-9 . _ : @ / + = -``) a fresh one. The answer's
    ``X-Correlation-ID`` always says which was used."""
    if given is not None and _CORRELATION_ID.fullmatch(given):
        return given
    return str(uuid.uuid4())


@dataclass(frozen=True)
class RequestLimits:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_headers: int = DEFAULT_MAX_HEADERS
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_header_block_bytes: int = DEFAULT_MAX_HEADER_BLOCK_BYTES
    # (path pattern, body limit) for routes that legitimately take more; first match wins.
    larger_bodies: Sequence[tuple[str, int]] = ()

    def body_limit(self, path: str) -> int:
        for pattern, limit in self.larger_bodies:
            if re.fullmatch(pattern, path):
                return limit
        return self.max_body_bytes


class RequestLimitsMiddleware:
    """The pure ASGI middleware applying ``RequestLimits`` to every HTTP request."""

    def __init__(self, app: ASGIApp, limits: RequestLimits = RequestLimits()) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refuse_headers(scope["headers"])
        if refusal is not None:
            await _answer(send, *refusal)
            return
        limit = self.limits.body_limit(scope["path"])
        declared = _content_length(scope["headers"])
        if declared == "malformed":
            await _answer(send, 400, "bad_content_length", "Content-Length is not a number")
            return
        if declared is not None and declared > limit:
            await _answer(send, 413, "body_too_large",
                          f"The request body is larger than {limit} bytes")
            return

        received = 0
        started = refused = False

        async def counted_receive() -> Message:
            # Past the limit, the caller is answered 413 at once and the app is told the client
            # left: it stops reading, and whatever it answers then is dropped. (An exception
            # raised here would reach the app wrapped by the middlewares in between, and FastAPI
            # answers any error while reading a body with a 400.)
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _answer(send, 413, "body_too_large",
                                      f"The request body is larger than {limit} bytes")
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted_receive, tracked_send)

    def _refuse_headers(self, headers: Sequence[tuple[bytes, bytes]]
                        ) -> tuple[int, str, str] | None:
        limits = self.limits
        if len(headers) > limits.max_headers:
            return 431, "too_many_headers", f"More than {limits.max_headers} headers"
        sizes = [len(name) + len(value) for name, value in headers]
        if any(size > limits.max_header_bytes for size in sizes):
            return 431, "header_too_large", \
                f"A header is longer than {limits.max_header_bytes} bytes"
        if sum(sizes) > limits.max_header_block_bytes:
            return 431, "headers_too_large", \
                f"The headers are longer than {limits.max_header_block_bytes} bytes"
        return None


def _content_length(headers: Sequence[tuple[bytes, bytes]]) -> int | str | None:
    values = [value for name, value in headers if name.lower() == b"content-length"]
    if not values:
        return None
    if len(set(values)) > 1 or not values[0].strip().isdigit():
        return "malformed"
    return int(values[0])


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    """A short JSON refusal; the connection is closed, since its body was not read."""
    body = json.dumps({"code": code, "message": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
