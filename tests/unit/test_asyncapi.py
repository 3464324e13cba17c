"""The AsyncAPI document: every reference resolves, every event type is in it, it is valid
AsyncAPI 3.0 by the official JSON Schema, and every service serves it with a page to read."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from services.notifications.app import SPEC as NOTIFICATIONS
from shared.contracts import registered_events
from shared.contracts.asyncapi import asyncapi_document
from shared.contracts.catalogue_html import catalogue_html
from shared.contracts.common import LOCAL_TIME_PATTERN
from shared.contracts.enrolment import WorkerRegistered
from tests.support import service_app


def refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["$ref"]] if "$ref" in value else []
        return found + [r for v in value.values() for r in refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in refs(v)]
    return []


def resolve(document: dict, ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_every_reference_resolves() -> None:
    document = asyncapi_document()
    assert document["asyncapi"] == "3.0.0"
    for ref in refs(document):
        resolve(document, ref)


def test_every_event_type_has_a_message_on_its_service_channel() -> None:
    document = asyncapi_document()
    for ce_type, model in registered_events().items():
        key = ce_type.removeprefix("songji.")
        channel = document["channels"][f"{model.service}Events"]
        assert channel["address"] == f"songji.{model.service}.events"
        assert key in channel["messages"]
        assert document["components"]["messages"][key]["x-ce-type"] == ce_type


def test_message_payload_validates_a_real_event_and_rejects_a_broken_one() -> None:
    document = asyncapi_document()
    payload = document["components"]["messages"]["enrolment.WorkerRegistered.v1"]["payload"]
    schema = {**payload, "components": document["components"]}
    good = WorkerRegistered(worker_id="w", gender="female", birth_year=1990)
    jsonschema.validate(good.model_dump(mode="json"), schema)
    try:
        jsonschema.validate({"worker_id": "w", "gender": "other", "birth_year": 1990}, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("a gender outside the contract was accepted")


# -- against the official AsyncAPI 3.0.0 JSON Schema (tests/vendor/README.md says where from)

VENDOR = Path(__file__).parents[1] / "vendor"
OFFICIAL_SCHEMA = VENDOR / "asyncapi-3.0.0.schema.json"
OFFICIAL_SCHEMA_SHA256 = "d4571a420e6ffb7fcc7066c95a6db1202f299a3c51daa103d0706bf30f95e626"
COMMITTED = Path(__file__).parents[2] / "schemas" / "asyncapi.json"


def official_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(OFFICIAL_SCHEMA.read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema"
    # the file bundles every definition it refers to under its own $id: nothing is fetched
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def official_errors(document: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in official_validator().iter_errors(document)]


def test_the_vendored_schema_is_the_pinned_release() -> None:
    assert hashlib.sha256(OFFICIAL_SCHEMA.read_bytes()).hexdigest() == OFFICIAL_SCHEMA_SHA256


def test_the_generated_and_the_committed_document_are_valid_asyncapi_3() -> None:
    assert official_errors(asyncapi_document()) == []
    assert official_errors(json.loads(COMMITTED.read_text())) == []


@pytest.mark.parametrize("breakage", [
    lambda d: d.pop("info"),
    lambda d: d["channels"]["enrolmentEvents"].__setitem__("address", 7),
    lambda d: d["operations"]["enrolmentPublishes"].__setitem__("action", "publish"),
    lambda d: d.__setitem__("asyncapi", "2.6.0"),
])
def test_the_official_schema_rejects_a_broken_document(breakage: Callable[[dict], Any]) -> None:
    document = copy.deepcopy(asyncapi_document())
    breakage(document)
    assert official_errors(document)


def _app() -> httpx.ASGITransport:
    # the lifespan is not started: the catalogue needs neither the database nor the broker
    return httpx.ASGITransport(app=service_app(
        NOTIFICATIONS, database_url="postgresql://nowhere/none", bootstrap="localhost:1",
        topic_prefix="t"))


async def test_the_served_document_is_valid_asyncapi_3_and_the_page_lists_every_type() -> None:
    async with httpx.AsyncClient(transport=_app(), base_url="http://test") as client:
        served = await client.get("/events/asyncapi.json")
        page = await client.get("/events/")
    assert served.status_code == 200
    assert official_errors(served.json()) == []
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert html.startswith("<!doctype html>")
    # self-contained: nothing for a browser to fetch from anywhere else
    assert "<script" not in html and "http://" not in html and "https://" not in html
    for ce_type in registered_events():
        assert f'href="schemas/{ce_type}"' in html
    assert "<code>start_local</code>" in html and f"pattern {LOCAL_TIME_PATTERN}" in html


def test_the_page_escapes_what_it_shows() -> None:
    document = copy.deepcopy(asyncapi_document())
    document["info"]["description"] = "<script>alert(1)</script>"
    html = catalogue_html(document)
    assert "<script>" not in html and "&lt;script&gt;" in html
