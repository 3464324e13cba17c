"""Workers' contact details, fetched from enrolment's API at send time and never stored.

``GET {enrolment_url}/workers/{worker_id}/contact`` with a bearer token answers
``{"worker_id", "mobile", "name", "preferred_language"?, "contact_window"?}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from services.notifications.delivery_errors import (
    DependencyUnavailable,
    PermanentDeliveryError,
)
from services.notifications.domain.contact_window import ContactWindow


@dataclass(frozen=True, slots=True)
class Contact:
    worker_id: str
    name: str = field(repr=False)
    mobile: str | None = field(repr=False)
    preferred_language: str | None = None
    window: ContactWindow | None = None


class EnrolmentContacts:
    def __init__(self, base_url: str, token: str | None, *, timeout: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers,
                                         timeout=timeout, transport=transport)

    async def close(self) -> None:
        await self._client.aclose()

    async def contact(self, worker_id: str) -> Contact:
        try:
            response = await self._client.get(f"/workers/{worker_id}/contact")
        except httpx.TransportError as exc:
            raise DependencyUnavailable(f"enrolment_unreachable:{type(exc).__name__}") from None
        if response.status_code == 404:
            raise PermanentDeliveryError("contact_unknown")
        if response.status_code in (401, 403):
            raise PermanentDeliveryError(f"enrolment_refused:{response.status_code}")
        if response.status_code >= 500 or response.status_code == 429:
            raise DependencyUnavailable(f"enrolment_status:{response.status_code}")
        if response.status_code != 200:
            raise PermanentDeliveryError(f"enrolment_status:{response.status_code}")
        try:
            body = response.json()
            window = ContactWindow.parse(body.get("contact_window"))
            return Contact(worker_id=body["worker_id"], name=body.get("name") or "",
                           mobile=body.get("mobile"),
                           preferred_language=body.get("preferred_language"), window=window)
        except (ValueError, KeyError, TypeError):
            raise PermanentDeliveryError("contact_malformed") from None
