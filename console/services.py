"""The services' public APIs, called with the signed-in organisation's token.

A refusal (4xx) becomes ``Refused`` carrying the service's code and sentence, for the page to
show as it is; commands carry an Idempotency-Key so a resubmitted form takes effect once where
the service honours it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from shared.runtime.idempotency import HEADER
from shared.runtime.paging import every_page


class Refused(Exception):
    """``body``: the service's JSON answer as it is (a 422's per-field ``detail``, a domain
    refusal's details), for a form to show each refusal next to its field."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.body = body


def refusal_of(response: httpx.Response) -> Refused:
    try:
        body = response.json()
    except ValueError:
        return Refused(response.status_code, "http_error", response.text[:300])
    if isinstance(body, dict) and "code" in body:
        return Refused(response.status_code, str(body["code"]), str(body.get("message", "")),
                       body)
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        parts = [f"{'.'.join(str(x) for x in e.get('loc', [])[1:])}: {e.get('msg', '')}"
                 for e in body["detail"]]
        return Refused(response.status_code, "invalid_request", "; ".join(parts), body)
    return Refused(response.status_code, "http_error", str(body)[:300])


class Services:
    def __init__(self, urls: Mapping[str, str], client: httpx.AsyncClient) -> None:
        self.urls = dict(urls)
        self.client = client

    def _url(self, service: str, path: str) -> str:
        if service not in self.urls:  # not configured: as good as unreachable
            raise Refused(503, "service_unreachable", service)
        return self.urls[service].rstrip("/") + path

    async def call(self, token: str, method: str, service: str, path: str, *,
                   json: Any = None, params: Mapping[str, Any] | None = None
                   ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if method != "GET":
            headers[HEADER] = str(uuid.uuid4())
        try:
            response = await self.client.request(method, self._url(service, path), json=json,
                                                 params=params, headers=headers)
        except httpx.TransportError:
            raise Refused(503, "service_unreachable", service) from None
        if response.status_code >= 400:
            raise refusal_of(response)
        return response

    async def get(self, token: str, service: str, path: str,
                  params: Mapping[str, Any] | None = None) -> Any:
        """The whole answer: a paged list with every page."""
        first = await self.call(token, "GET", service, path, params=params)
        return await every_page(first, lambda link: self.call(token, "GET", service, link))

    async def probe(self, token: str, service: str, path: str) -> tuple[int, Any]:
        """A status route's code and JSON body as they are (/ready answers 503 with its
        checks when not ready): never raises on the status; unreachable is Refused (503)."""
        try:
            response = await self.client.get(self._url(service, path),
                                             headers={"Authorization": f"Bearer {token}"})
        except httpx.TransportError:
            raise Refused(503, "service_unreachable", service) from None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    async def post(self, token: str, service: str, path: str, json: Any = None) -> Any:
        response = await self.call(token, "POST", service, path, json=json)
        if not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response


def seg(value: str) -> str:
    """A form's value as one path segment: never a '/' or '..' that would reach another
    route with the organisation's token."""
    return quote(value, safe="") if value not in ("", ".", "..") else "_"
