"""The AsyncAPI 3.0 document of every public event, generated from the contracts in the code.

One channel per publishing service (``<prefix>.<service>.events``), keyed by stream id, each
message a CloudEvent in Kafka binary mode: the attributes in ``ce_*`` headers, the data (the
contract's JSON Schema) in the body.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from shared.contracts.base import registered_events
from shared.eventsourcing.topics import SERVICES, dead_letter_topic, events_topic

_HEADER_DESCRIPTIONS = {
    "ce_specversion": "CloudEvents spec version, always 1.0",
    "ce_id": "Event id (UUID), unique; consumers deduplicate on it",
    "ce_source": "/songji/<service>",
    "ce_type": "songji.<service>.<EventName>.v<version>",
    "ce_subject": "Stream (aggregate) id; also the Kafka key",
    "ce_time": "When the event was recorded (RFC 3339, with offset)",
    "ce_schemaversion": "Contract version of the data",
    "ce_correlationid": "The request or journey this event belongs to",
    "ce_causationid": "Id of the event or request that caused it",
    "ce_actororg": "Acting organisation id",
    "ce_actoruser": "Acting user id",
    "ce_streamversion": "Position of the event in its stream (1, 2, ...)",
    "ce_position": "Position of the event in its service's store",
    "content-type": "application/json",
}
_REQUIRED_HEADERS = ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject", "ce_time"]


def _rewrite_refs(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (v.replace("#/$defs/", "#/components/schemas/") if k == "$ref" else
                    _rewrite_refs(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite_refs(v) for v in value]
    return value


def asyncapi_document(prefix: str = "songji") -> dict[str, Any]:
    headers_schema = {
        "type": "object",
        "required": _REQUIRED_HEADERS,
        "properties": {name: {"type": "string", "description": text}
                       for name, text in _HEADER_DESCRIPTIONS.items()},
    }
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    by_service: dict[str, list[str]] = defaultdict(list)
    for ce_type, model in registered_events().items():
        schema = model.model_json_schema()
        for name, definition in schema.pop("$defs", {}).items():
            definition = _rewrite_refs(definition)
            if schemas.setdefault(name, definition) != definition:
                raise ValueError(f"two different nested types are both named {name!r}")
        key = ce_type.removeprefix("songji.")
        messages[key] = {
            "name": model.__name__,
            "title": f"{model.__name__} v{model.schema_version}",
            "summary": (model.__doc__ or model.__name__).strip().splitlines()[0],
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/CloudEventHeaders"},
            "payload": _rewrite_refs(schema),
            "bindings": {"kafka": {"key": {"type": "string",
                                           "description": "stream id (= ce_subject)"}}},
            "x-ce-type": ce_type,
        }
        by_service[model.service].append(key)
    schemas["CloudEventHeaders"] = headers_schema

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for service in SERVICES:
        keys = by_service.get(service, [])
        channel = f"{service}Events"
        channels[channel] = {
            "address": events_topic(service, prefix),
            "description": f"Every event the {service} service publishes, in stream order "
                           "per key.",
            "messages": {k: {"$ref": f"#/components/messages/{k}"} for k in keys},
        }
        operations[f"{service}Publishes"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{k}"} for k in keys],
        }
    channels["deadLetter"] = {
        "address": dead_letter_topic(prefix),
        "description": "Messages no consumer could handle, with dlq_reason, dlq_consumer and "
                       "dlq_origin_topic/partition/offset headers.",
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Songji events",
            "version": "1.0.0",
            "description": "Events of Songji's six services, as CloudEvents 1.0 in Kafka "
                           "binary content mode. No personal data: workers are pseudonymous "
                           "worker_id values.",
        },
        "defaultContentType": "application/json",
        "servers": {"kafka": {"host": "localhost:9092", "protocol": "kafka",
                              "description": "Set by each deployment"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_asyncapi(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(asyncapi_document()))
