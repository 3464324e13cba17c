"""The AsyncAPI document: every reference resolves, every event type is in it."""

from __future__ import annotations

from typing import Any

import jsonschema

from shared.contracts import registered_events
from shared.contracts.asyncapi import asyncapi_document
from shared.contracts.enrolment import WorkerRegistered


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
