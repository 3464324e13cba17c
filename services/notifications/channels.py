"""The ways a message leaves Songji: an SMS gateway over HTTP, email over SMTP, a local file.

A channel raises TransientDeliveryError when trying again may work and PermanentDeliveryError
when it cannot; it never logs the address or the text.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Literal, Protocol

import httpx

from services.notifications.delivery_errors import (
    PermanentDeliveryError,
    TransientDeliveryError,
)

AddressKind = Literal["mobile", "email"]


@dataclass(frozen=True, slots=True, repr=False)
class Message:
    notification_id: str
    recipient_id: str  # a worker id or a department key, never personal
    address: str | None
    subject: str
    body: str

    def __repr__(self) -> str:
        return f"Message({self.notification_id}, to {self.recipient_id})"


class Channel(Protocol):
    name: Literal["local", "sms", "email"]
    address_kind: AddressKind | None  # which address it needs; None: none

    async def send(self, message: Message) -> None: ...


def mask(address: str | None) -> str | None:
    """13912345678 -> 139****5678; a@b.cn -> a***@b.cn."""
    if not address:
        return address
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    return address[:3] + "*" * max(len(address) - 7, 0) + address[-4:]


@dataclass
class LocalChannel:
    """Appends each message as a JSON line to a file (or prints it): for development and demos,
    standing in for the phone or the inbox. The address is masked; the text is the message."""

    path: Path | None
    name: Literal["local"] = "local"
    address_kind: AddressKind | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, message: Message) -> None:
        line = json.dumps({"notification_id": message.notification_id,
                           "to": message.recipient_id, "address": mask(message.address),
                           "subject": message.subject, "body": message.body,
                           "at": datetime.now(UTC).isoformat()}, ensure_ascii=False)
        async with self._lock:
            if self.path is None:
                print(line, file=sys.stdout, flush=True)
                return
            try:
                await asyncio.to_thread(self._append, self.path, line)
            except OSError as exc:
                raise TransientDeliveryError(f"local_write_failed:{exc.errno}") from None

    @staticmethod
    def _append(path: Path, line: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


class SmsGateway:
    """POST ``{"to", "text", "reference"}`` with a bearer token. 2xx: accepted. 408, 429 and
    5xx, or no answer: try again. Any other 4xx: refused for good. The reference is the
    notification id, so a gateway that deduplicates never sends a resend twice."""

    name: Literal["sms"] = "sms"
    address_kind: AddressKind = "mobile"

    def __init__(self, url: str, token: str | None, *, timeout: float = 10.0) -> None:
        self.url = url
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout)

    async def close(self) -> None:
        await self._client.aclose()

    async def send(self, message: Message) -> None:
        if not message.address:
            raise PermanentDeliveryError("no_mobile")
        try:
            response = await self._client.post(self.url, json={
                "to": message.address, "text": message.body,
                "reference": message.notification_id})
        except httpx.TransportError as exc:
            raise TransientDeliveryError(f"gateway_unreachable:{type(exc).__name__}") from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if status in (408, 429) or status >= 500:
            raise TransientDeliveryError(f"gateway_status:{status}")
        raise PermanentDeliveryError(f"gateway_rejected:{status}")


class SmtpEmail:
    """Email through an SMTP relay (stdlib smtplib in a worker thread). 4xx replies and
    dropped connections are transient; 5xx replies are permanent. The Message-ID is derived
    from the notification id, so a resend after a crash is recognisably the same mail."""

    name: Literal["email"] = "email"
    address_kind: AddressKind = "email"

    def __init__(self, host: str, port: int, sender: str, *, username: str | None = None,
                 password: str | None = None, starttls: bool = False,
                 timeout: float = 10.0) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls, self.timeout = starttls, timeout

    async def send(self, message: Message) -> None:
        if not message.address:
            raise PermanentDeliveryError("no_email")
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.address
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<{message.notification_id}@songji>"
        mail.set_content(message.body)
        await asyncio.to_thread(self._send, mail)

    def _send(self, mail: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            kind = TransientDeliveryError if all(400 <= c < 500 for c in codes) \
                else PermanentDeliveryError
            raise kind(f"smtp_recipient_refused:{','.join(map(str, codes))}") from None
        except smtplib.SMTPResponseException as exc:
            kind = TransientDeliveryError if 400 <= exc.smtp_code < 500 \
                else PermanentDeliveryError
            raise kind(f"smtp_status:{exc.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientDeliveryError(f"smtp_unavailable:{type(exc).__name__}") from None
