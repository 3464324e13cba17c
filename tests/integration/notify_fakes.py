"""Stand-ins for the servers notifications talks to: enrolment's contact endpoint, an SMS
gateway, an integrator's webhook receiver (one FastAPI app on a loopback port) and an SMTP
server (a small asyncio implementation). Each can be told to fail its first N requests."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response

from shared.contracts import Envelope, Event
from shared.eventsourcing.topics import events_topic
from shared.infra.ports import free_port, wait_for_port
from tests.support import produce, signed

ENROLMENT_TOKEN = "enrolment-token-for-notifications"


@dataclass
class Fakes:
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    sms: list[dict[str, Any]] = field(default_factory=list)
    sms_failures: int = 0
    hooks: list[tuple[dict[str, str], bytes]] = field(default_factory=list)  # accepted ones
    hook_attempts: list[dict[str, str]] = field(default_factory=list)  # every one's headers
    hook_failures: int = 0
    hook_status: int = 500
    hook_fail_once: set[str] = field(default_factory=set)  # CloudEvent ids: first attempt 500
    contact_lookups: int = 0
    contact_failures: int = 0  # enrolment answers 503 to this many lookups first

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/workers/{worker_id}/contact")
        async def contact(worker_id: str, request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {ENROLMENT_TOKEN}":
                return Response(status_code=401)
            self.contact_lookups += 1
            if self.contact_failures > 0:
                self.contact_failures -= 1
                return Response(status_code=503)
            found = self.contacts.get(worker_id)
            if found is None:
                return Response(status_code=404)
            return Response(json.dumps({"worker_id": worker_id, **found}),
                            media_type="application/json")

        @app.post("/sms")
        async def sms(request: Request) -> Response:
            if self.sms_failures > 0:
                self.sms_failures -= 1
                return Response(status_code=503)
            self.sms.append(await request.json())
            return Response(status_code=202)

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            self.hook_attempts.append(dict(request.headers))
            event_id = json.loads(body).get("id") if body.startswith(b"{") else None
            if event_id in self.hook_fail_once:
                self.hook_fail_once.discard(event_id)
                return Response(status_code=500)
            if self.hook_failures > 0:
                self.hook_failures -= 1
                return Response(status_code=self.hook_status)
            self.hooks.append((dict(request.headers), body))
            return Response(status_code=204)

        return app


@contextlib.asynccontextmanager
async def serve_fakes(fakes: Fakes) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(fakes.app(), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    await asyncio.to_thread(wait_for_port, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class FakeSmtp:
    """Enough SMTP for smtplib: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def __init__(self, *, fail_data: int = 0, refuse: frozenset[str] = frozenset()) -> None:
        self.fail_data = fail_data
        self.refuse = refuse
        self.messages: list[email.message.EmailMessage] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> FakeSmtp:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")

        say("220 fake ESMTP")
        try:
            while line := await reader.readline():
                command = line.decode().strip()
                verb = command[:4].upper()
                if verb == "EHLO":
                    say("250-fake")
                    say("250 8BITMIME")
                elif verb in ("HELO", "MAIL", "RSET", "NOOP"):
                    say("250 OK")
                elif verb == "RCPT":
                    address = re.search(r"<([^>]*)>", command)
                    say("550 no such mailbox" if address and address.group(1) in self.refuse
                        else "250 OK")
                elif verb == "DATA":
                    if self.fail_data > 0:
                        self.fail_data -= 1
                        say("451 try again later")
                        continue
                    say("354 go ahead")
                    await writer.drain()
                    data = bytearray()
                    while (chunk := await reader.readline()) not in (b".\r\n", b""):
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    self.messages.append(email.message_from_bytes(
                        bytes(data), policy=email.policy.default))  # type: ignore[arg-type]
                    say("250 queued")
                elif verb == "QUIT":
                    say("221 bye")
                    await writer.drain()
                    break
                else:
                    say("502 not implemented")
                await writer.drain()
        finally:
            writer.close()


async def publish(bootstrap: str, prefix: str, event: Event, subject: str, *,
                  event_id: uuid.UUID | None = None,
                  time: datetime | None = None) -> Envelope:
    """Put an event on its service's topic as that service's relay would."""
    envelope = Envelope(id=event_id or uuid.uuid4(), source=f"/songji/{event.service}",
                        type=event.ce_type(), subject=subject, time=time or datetime.now(UTC),
                        data=event.model_dump(mode="json"), schema_version=event.schema_version,
                        correlation_id=f"corr-{subject}", stream_version=1)
    value, headers = signed(envelope)
    await produce(bootstrap, events_topic(event.service, prefix), value,
                  key=subject.encode(), headers=headers)
    return envelope
