"""The departments' client for a run under faults.

The demo's client gives up after a few connection errors; here a service may be down for
seconds (killed, then restarted), so connection errors and 5xx are retried until the deadline.

A command whose answer was lost (the connection broke after the request went out) may have
taken effect. Every command is sent with an ``Idempotency-Key`` (one per command, the same on
each of its retries): where the service honours it (funding's commands, enrolment's surveys
and enrolments, webhooks), the retry gets the first answer again with no second effect. The
other commands are idempotent by their own ids, and their retry is refused with a conflict
saying so; for the codes below that refusal *is* the answer: the worker is registered (and
the refusal names the existing worker id), the attendance is recorded (it names the
attendance id), and so on. Only after an ambiguous failure is such a conflict taken as
success; on a first attempt it stays an error.

Faults on the requests themselves (``chaos.faults.RequestFaults``: an answer thrown away, the
service killed mid-request) are applied here, to the first attempt of the commands they target.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Collection, Mapping
from typing import Any

import httpx

from chaos.faults import RequestFaults
from shared.runtime.idempotency import HEADER, REPLAYED_HEADER
from songji.demo.client import ALWAYS_RETRIED, DemoError, Departments, _code

# Conflict code -> the status of the success it stands for, and the fields of the refusal
# that make up the success body (the demo reads ``worker_id`` and ``attendance_id``). Only
# for commands without an Idempotency-Key: a keyed command answering one of funding's
# "exists" conflicts after a lost answer would be a failure of the key, so it stays an error.
ALREADY_DONE: dict[str, tuple[int, tuple[str, ...]]] = {
    "worker_already_registered": (201, ("worker_id",)),
    "attendance_already_recorded": (201, ("attendance_id",)),
    "result_already_recorded": (201, ()),
    "attendance_already_voided": (204, ()),
    "class_already_scheduled": (204, ()),
    "class_already_approved": (204, ()),
    "institution_already_accredited": (204, ()),
    "body_already_registered": (204, ()),
    "assessor_already_added": (204, ()),
    "assessment_already_scheduled": (204, ()),
}
# Errors where the request cannot have reached the service: retrying is always safe.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class ChaosDepartments(Departments):
    def __init__(self, urls: Mapping[str, str], tokens: Mapping[str, str], *,
                 wait_seconds: float = 180.0) -> None:
        super().__init__(urls, tokens, wait_seconds=wait_seconds)
        self._client = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=32))
        self.connection_errors = 0
        self.server_errors = 0
        self.lost_answers = 0  # ambiguous failures: the request may have taken effect
        self.taken_as_done: dict[str, int] = {}  # conflicts accepted after a lost answer
        self.replayed = 0  # answers replayed from an Idempotency-Key
        self.request_faults: RequestFaults | None = None
        # Funding's commands: the answer each finally got, by path (the bank file included),
        # to compare with the clean run's.
        self.funding_answers: dict[str, httpx.Response] = {}

    async def call(self, org: str, method: str, service: str, path: str, *,
                   json: Any = None, params: Mapping[str, Any] | None = None,
                   expect: Collection[int] = (200, 201, 204),
                   wait_for: Collection[str] = (), accept_codes: Collection[str] = (),
                   what: str = "", wait_seconds: float | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[org]}"}
        if method != "GET":
            headers[HEADER] = str(uuid.uuid4())  # one per command, the same on its retries
        deadline = time.monotonic() + (self.wait_seconds if wait_seconds is None
                                       else wait_seconds)
        delay, maybe_done = 0.05, False
        url = self.url(service, path)
        fault = (self.request_faults.fault_for(method, service, path)
                 if self.request_faults else None)

        def send() -> Any:
            return self._client.request(method, url, json=json, params=params, headers=headers)

        while True:
            self.calls += 1
            try:
                if fault is not None and self.request_faults is not None:
                    injected, fault = fault, None
                    await self.request_faults.inject(injected, headers, send)
                response = await send()
            except httpx.TransportError as exc:
                self.connection_errors += 1
                if method != "GET" and not isinstance(exc, NOT_SENT):
                    maybe_done = True
                    self.lost_answers += 1
                if time.monotonic() > deadline:
                    raise DemoError(f"{what or path}: {service} unreachable: {exc!r}") from None
                await asyncio.sleep(0.3)
                continue
            if response.headers.get(REPLAYED_HEADER) == "true":
                self.replayed += 1
            if response.status_code in expect:
                if service == "funding" and method == "POST":
                    self.funding_answers[path] = response
                return response
            code = _code(response)
            if code in accept_codes:
                return response
            if maybe_done and code in ALREADY_DONE:
                self.taken_as_done[code] = self.taken_as_done.get(code, 0) + 1
                return _as_done(response, code, expect)
            if response.status_code >= 500:
                self.server_errors += 1
                # a 5xx from a process being killed may also have committed
                maybe_done = maybe_done or method != "GET"
            retry = (code in wait_for or code in ALWAYS_RETRIED or response.status_code >= 500)
            if not retry or time.monotonic() > deadline:
                raise DemoError(f"{what or path}: {org} -> {method} {service}{path} answered "
                                f"{response.status_code} {response.text[:500]}")
            await asyncio.sleep(delay)
            delay = min(delay * 1.6, 1.0)


def _as_done(refusal: httpx.Response, code: str, expect: Collection[int]) -> httpx.Response:
    status, fields = ALREADY_DONE[code]
    if expect and status not in expect:
        status = next(iter(expect))
    body = refusal.json()
    return httpx.Response(status, json={f: body[f] for f in fields if f in body},
                          request=refusal.request)
