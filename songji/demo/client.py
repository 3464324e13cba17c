"""The departments' HTTP client: each call names the organisation acting, and commands that
depend on what another service has yet to learn from the bus are retried until it has.
Every command carries an Idempotency-Key, the same on its retries, so a command retried after
a lost answer takes effect once where the service honours the key (docs/integrators.md).

Error bodies are shown, never request bodies: a registration carries personal data.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

import httpx

from shared.runtime.idempotency import HEADER
from shared.runtime.paging import every_page

# Transient refusals: another writer got there first, or this service has not yet consumed
# the event that makes the command valid (eventual consistency between services).
ALWAYS_RETRIED = frozenset({"concurrent_update"})

T = TypeVar("T")
R = TypeVar("R")


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which call and what the service said."""


class Departments:
    def __init__(self, urls: Mapping[str, str], tokens: Mapping[str, str], *,
                 wait_seconds: float = 120.0) -> None:
        self.urls = dict(urls)
        self.tokens = dict(tokens)
        self.wait_seconds = wait_seconds
        self._client = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=32))
        self.calls = 0

    async def __aenter__(self) -> Departments:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._client.aclose()

    def url(self, service: str, path: str) -> str:
        return self.urls[service].rstrip("/") + path

    async def call(self, org: str, method: str, service: str, path: str, *,
                   json: Any = None, params: Mapping[str, Any] | None = None,
                   expect: Collection[int] = (200, 201, 204),
                   wait_for: Collection[str] = (), accept_codes: Collection[str] = (),
                   what: str = "", wait_seconds: float | None = None) -> httpx.Response:
        """Send until the answer is expected. A 404/409 whose ``code`` is in ``wait_for``
        (or a concurrent update) is retried with backoff until ``wait_seconds`` (the
        client's, unless the call gives its own); one whose code is in ``accept_codes`` is
        returned as it is. Connection errors and 5xx are retried a few times."""
        headers = {"Authorization": f"Bearer {self.tokens[org]}"}
        if method != "GET":
            headers[HEADER] = str(uuid.uuid4())  # one per command, the same on its retries
        deadline = time.monotonic() + (self.wait_seconds if wait_seconds is None
                                       else wait_seconds)
        delay, failures = 0.05, 0
        while True:
            self.calls += 1
            try:
                response = await self._client.request(method, self.url(service, path),
                                                      json=json, params=params,
                                                      headers=headers)
            except httpx.TransportError as exc:
                failures += 1
                if failures > 5:
                    raise DemoError(f"{what or path}: {service} unreachable: {exc!r}") from None
                await asyncio.sleep(0.5 * failures)
                continue
            if response.status_code in expect:
                return response
            code = _code(response)
            if code in accept_codes:
                return response
            retry = (code in wait_for or code in ALWAYS_RETRIED or response.status_code >= 500)
            if response.status_code >= 500:
                failures += 1
                retry = failures <= 5
            if not retry or time.monotonic() > deadline:
                raise DemoError(f"{what or path}: {org} -> {method} {service}{path} answered "
                                f"{response.status_code} {response.text[:500]}")
            await asyncio.sleep(delay)
            delay = min(delay * 1.6, 1.0)

    async def job_done(self, org: str, service: str, accepted: httpx.Response, *,
                       progress: Callable[[int, int], None] | None = None,
                       what: str = "") -> dict[str, Any]:
        """Follow a 202 Accepted answer's job (its ``Location``, ``GET /jobs/{id}``) until it
        is done; ``progress(done, total)`` sees each look. A failed job, or one not done
        within ``wait_seconds``, is a DemoError."""
        location = accepted.headers["Location"]
        deadline = time.monotonic() + self.wait_seconds
        while True:
            job = (await self.call(org, "GET", service, location, expect=(200,),
                                   what=what)).json()
            if progress is not None and job["progress"]["total"] is not None:
                progress(job["progress"]["done"], job["progress"]["total"])
            if job["state"] == "done":
                return job
            if job["state"] == "failed" or time.monotonic() > deadline:
                raise DemoError(f"{what or location}: job {job['state']}: {job['error']}")
            await asyncio.sleep(0.2)

    async def get(self, org: str, service: str, path: str, **kw: Any) -> Any:
        """The whole answer: a paged list with every page (shared/runtime/paging.py)."""
        first = await self.call(org, "GET", service, path, expect=(200,), **kw)
        return await every_page(first, lambda link: self.call(
            org, "GET", service, link, expect=(200,), what=kw.get("what", "")))


def _code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


async def each(limit: int, items: Iterable[T], job: Callable[[T], Awaitable[R]]) -> list[R]:
    """``job`` on every item, at most ``limit`` at a time, results in the items' order. A
    bounded number of tasks pull the items, so 20,000 items are not 20,000 tasks. The first
    DemoError stops the rest (they are cancelled) and is raised as it is."""
    todo = list(items)
    results: list[R | None] = [None] * len(todo)
    queue = iter(enumerate(todo))  # shared: the next free task takes the next item

    async def puller() -> None:
        for i, item in queue:
            results[i] = await job(item)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(limit, len(todo))):
                group.create_task(puller())
    except* DemoError as failed:
        raise failed.exceptions[0] from None
    return results  # type: ignore[return-value]  # every slot was filled
