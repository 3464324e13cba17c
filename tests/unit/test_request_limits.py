"""What a request may weigh (shared/runtime/limits.py), on a service's real app: refused before
the body is read and before the token is looked at; a nested body with NUL in it refused
without a 500; log lines bounded."""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import structlog

from services.assessment.app import SPEC as ASSESSMENT
from shared.runtime.limits import (
    DEFAULT_MAX_BODY_BYTES,
    RequestLimits,
    RequestLimitsMiddleware,
    correlation_id_from,
)
from shared.runtime.logging import MAX_LOGGED_TEXT, bound_text
from shared.runtime.paging import MAX_PAGE_SIZE
from tests.orgs import token
from tests.support import service_app, signing_settings
from tests.unit.test_contract_bounds import largest

CHUNK = 64 * 1024
# Authenticated, so that the body itself is what is judged (without a token: 401 first).
AS_HR = {"content-type": "application/json", "Authorization": f"Bearer {token('hr')}"}


def app() -> httpx.ASGITransport:
    # The lifespan is not started: whatever the middleware refuses never needs the database.
    return httpx.ASGITransport(app=service_app(
        ASSESSMENT, database_url="postgresql://nowhere/none", bootstrap="localhost:1",
        topic_prefix="t"))


class Body:
    """A request body sent chunk by chunk, counting what the server pulled."""

    def __init__(self, total: int) -> None:
        self.total, self.sent = total, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += CHUNK
            yield b"x" * CHUNK


async def test_a_declared_100_mb_body_without_a_token_is_refused_unread() -> None:
    body = Body(100 * 1024 * 1024)
    async with httpx.AsyncClient(transport=app(), base_url="http://test") as client:
        answer = await client.post("/bodies", content=body, headers={
            "content-type": "application/json", "content-length": str(body.total)})
    assert answer.status_code == 413  # not 401: the size is checked before the token
    assert answer.json()["code"] == "body_too_large"
    assert body.sent <= CHUNK  # nothing beyond what the client pushed before the answer


async def test_a_streamed_body_without_a_length_is_stopped_at_the_limit() -> None:
    body = Body(100 * 1024 * 1024)
    async with httpx.AsyncClient(transport=app(), base_url="http://test") as client:
        answer = await client.post("/bodies", content=body,
                                   headers=AS_HR)
    assert answer.status_code == 413
    assert body.sent <= DEFAULT_MAX_BODY_BYTES + CHUNK


async def test_headers_too_many_or_too_long_are_431_and_a_bad_length_400() -> None:
    async with httpx.AsyncClient(transport=app(), base_url="http://test") as client:
        many = await client.get("/health", headers={f"x-h{i}": "1" for i in range(100)})
        long = await client.get("/health", headers={"x-long": "a" * 9000})
        block = await client.get("/health", headers={f"x-h{i}": "a" * 4000 for i in range(5)})
        fine = await client.get("/health", headers={"x-h": "a" * 4000})
    assert [many.status_code, long.status_code, block.status_code, fine.status_code] == [
        431, 431, 431, 200]
    assert many.json()["code"] == "too_many_headers"

    async def bad_length(receive_body: bytes) -> int:
        statuses = []

        async def receive() -> dict:
            return {"type": "http.request", "body": receive_body, "more_body": False}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        async def never(*_: object) -> None:
            raise AssertionError("the app was reached")

        await RequestLimitsMiddleware(never, RequestLimits())(
            {"type": "http", "path": "/x", "headers": [(b"content-length", b"12abc")]},
            receive, send)
        return statuses[0]

    assert await bad_length(b"{}") == 400


async def test_a_route_may_take_a_larger_body_where_declared() -> None:
    limits = RequestLimits(max_body_bytes=10, larger_bodies=[(r"/files/[^/]+", 100)])
    assert (limits.body_limit("/files/a"), limits.body_limit("/other")) == (100, 10)


def test_a_correlation_id_is_kept_only_when_short_and_safe() -> None:
    assert correlation_id_from("demo-run-7:step.3") == "demo-run-7:step.3"
    for bad in ("x" * 2000, "a b", "é", "<script>", "", None):
        replaced = correlation_id_from(bad)
        assert replaced != bad and len(replaced) == 36


async def test_a_2000_character_correlation_id_is_replaced_in_the_answer() -> None:
    async with httpx.AsyncClient(transport=app(), base_url="http://test") as client:
        answer = await client.get("/health", headers={"X-Correlation-ID": "c" * 2000})
    assert answer.status_code == 200
    assert len(answer.headers["X-Correlation-ID"]) == 36


def nested(depth: int) -> bytes:
    return ('{"a":' * depth + '"\\u0000"' + "}" * depth).encode()


def nested_lists(depth: int) -> bytes:
    return ("[" * depth + '"\\u0000"' + "]" * depth).encode()


# 600 lists deep is the 1.2 KB body that raised RecursionError (a 500 and a 270 KB log line).
@pytest.mark.parametrize("body", [nested(40), nested_lists(600), nested(3000)],
                         ids=["objects-40", "lists-600", "objects-3000"])
async def test_a_nested_body_with_nul_is_refused_without_a_500_or_a_long_log(
    body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    depth = body.count(b"[") + body.count(b"{")
    async with httpx.AsyncClient(transport=app(), base_url="http://test") as client:
        answer = await client.post("/bodies", content=body,
                                   headers=AS_HR)
    # Deeper than the JSON parser itself goes, FastAPI answers 400 before any check runs.
    assert answer.status_code == (422 if depth < 1000 else 400)
    if depth < 1000:
        assert answer.json()["detail"][0]["type"] == "too_deeply_nested"
    assert all(len(r.getMessage()) < 1000 and not r.exc_info for r in caplog.records)


async def test_a_shallow_body_with_nul_still_names_where() -> None:
    async with httpx.AsyncClient(transport=app(), base_url="http://test") as client:
        answer = await client.post("/bodies", content=nested(3),
                                   headers=AS_HR)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "a", "a", "a"]


def test_a_log_line_never_carries_a_whole_body() -> None:
    body = json.dumps({"affiliations": ["x" * 1_000_000]})
    event = bound_text(None, "error", {"event": "failed", "body": body, "n": 3})
    assert len(event["body"]) < MAX_LOGGED_TEXT + 100
    assert event["n"] == 3 and event["event"] == "failed"
    rendered = structlog.processors.JSONRenderer()(None, "error", event)
    assert len(rendered) < MAX_LOGGED_TEXT + 200


SERVICES = ["enrolment", "training", "assessment", "funding", "notifications"]


def openapi(service: str) -> dict:
    spec = importlib.import_module(f"services.{service}.app").SPEC
    return service_app(spec, database_url="postgresql://nowhere/none", bootstrap="localhost:1",
                       topic_prefix="t").openapi()


@pytest.mark.parametrize("service", SERVICES)
def test_every_request_body_is_bounded_and_the_largest_valid_one_is_under_the_limit(
    service: str,
) -> None:
    document = openapi(service)
    defs = document.get("components", {}).get("schemas", {})
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            where = f"{service} {method.upper()} {path}"
            body = largest(content["application/json"]["schema"], defs, where)
            size = len(json.dumps(body))  # as JSON encoders write it: \u001f, six bytes
            assert size < DEFAULT_MAX_BODY_BYTES, f"{where}: a valid body of {size} bytes"


# Lists that are not data: the event catalogue (a few dozen types, the same for everyone).
NOT_PAGED = {"/events/schemas"}


@pytest.mark.parametrize("service", SERVICES)
def test_every_list_route_is_paged_and_every_id_in_a_path_or_query_bounded(
    service: str,
) -> None:
    document = openapi(service)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            params = {p["name"]: p for p in operation.get("parameters", [])}
            for name, param in params.items():
                schema = param["schema"]
                strings = [s for s in [schema, *schema.get("anyOf", [])]
                           if s.get("type") == "string" and "format" not in s]
                assert all("maxLength" in s for s in strings), f"{path} {name} unbounded"
            answer = operation.get("responses", {}).get("200", {}).get("content", {}).get(
                "application/json", {}).get("schema", {})
            paged = answer.get("type") == "array" or any(
                "paged" in operation.get(k, "") for k in ("summary", "description"))
            if method != "get" or not paged or path in NOT_PAGED:
                continue
            assert {"limit", "after"} <= set(params), f"{service} {path} is not paged"
            assert params["limit"]["schema"]["maximum"] == MAX_PAGE_SIZE


def test_a_service_process_bounds_the_request_head_in_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.runtime import main

    seen: dict = {}
    monkeypatch.setattr(main.uvicorn, "run", lambda app, **options: seen.update(options))
    monkeypatch.setenv("SONGJI_DATABASE_URL", "postgresql://nowhere/none")
    monkeypatch.setenv("SONGJI_KAFKA_BOOTSTRAP_SERVERS", "localhost:1")
    for name, value in signing_settings(ASSESSMENT.name).items():
        monkeypatch.setenv(f"SONGJI_{name.upper()}", value)
    main.run_service(ASSESSMENT)
    assert seen["http"] == "h11"
    assert seen["h11_max_incomplete_event_size"] == 16 * 1024 + main.REQUEST_LINE_BYTES


async def test_a_service_may_let_a_route_take_a_larger_body() -> None:
    import dataclasses

    spec = dataclasses.replace(ASSESSMENT, larger_bodies=[(r"/bodies", 3 * 1024 * 1024)])
    roomy = httpx.ASGITransport(app=service_app(
        spec, database_url="postgresql://nowhere/none", bootstrap="localhost:1",
        topic_prefix="t"))
    body = b"x" * (2 * 1024 * 1024)
    for transport, path, expected_413 in ((roomy, "/bodies", False),
                                          (roomy, "/bodies/b-1/assessors", True),
                                          (app(), "/bodies", True)):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.post(path, content=body,
                                       headers=AS_HR)
        assert (answer.status_code == 413) is expected_413, (path, answer.status_code)
