"""Every string and list in every event contract is bounded, and the largest event any valid
command can produce fits in one broker message (shared/contracts/bounds.py).

The largest instance of each contract is built from its JSON Schema alone: every string at its
maximum length in the character JSON encodes longest (a control character, six bytes as
``\\u001f``; ASCII where a pattern restricts it), every list at its maximum length, every
optional field present, integers without a maximum at 20 digits. Its body and the largest
CloudEvents headers are then measured against the broker's limit.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.contracts import registered_events
from shared.contracts.bounds import MAX_EVENT_BYTES, MAX_ID_LENGTH
from shared.contracts.envelope import kafka_headers, kafka_value
from shared.contracts.schemas import current_schemas

WIDEST_CHAR = "\x1f"  # JSON writes it as \u001f: six bytes for one character
FORMATS = {"date": "2026-12-31", "date-time": "2026-12-31T23:59:59.999999+08:00",
           "time": "23:59:59.999999", "uuid": str(uuid.UUID(int=0))}
# Room for the Kafka record's own framing (lengths, offsets, timestamps, header names).
RECORD_OVERHEAD = 1024


class Unbounded(AssertionError):
    pass


def largest(schema: dict[str, Any], defs: dict[str, Any], where: str) -> Any:
    if "$ref" in schema:
        return largest(defs[schema["$ref"].rsplit("/", 1)[1]], defs, where)
    if "anyOf" in schema:
        options = [largest(s, defs, where) for s in schema["anyOf"]]
        return max(options, key=lambda v: len(kafka_value({"v": v})))
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return max(values, key=lambda v: len(kafka_value({"v": v})))
    kind = schema.get("type")
    if kind == "string":
        if "format" in schema and schema["format"] in FORMATS:
            return FORMATS[schema["format"]]
        if "maxLength" not in schema:
            raise Unbounded(f"{where}: a string without maxLength")
        return ("a" if "pattern" in schema else WIDEST_CHAR) * schema["maxLength"]
    if kind == "array":
        if "maxItems" not in schema:
            raise Unbounded(f"{where}: a list without maxItems")
        return [largest(schema["items"], defs, f"{where}[]")] * schema["maxItems"]
    if kind == "object":
        value = {name: largest(prop, defs, f"{where}.{name}")
                 for name, prop in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties")
        if extra in (None, False):
            return value
        key_length = schema.get("propertyNames", {}).get("maxLength")
        if not isinstance(extra, dict) or "maxProperties" not in schema or key_length is None:
            raise Unbounded(f"{where}: an object with free keys")
        item = largest(extra, defs, f"{where}{{}}")
        for i in range(schema["maxProperties"]):  # distinct keys, each as long as allowed
            value[f"{i:06d}" + WIDEST_CHAR * (key_length - 6)] = item
        return value
    if kind == "integer":
        return int(schema["maximum"]) if "maximum" in schema else -(10 ** 19)
    if kind == "number":
        return -1.7976931348623157e308
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    raise AssertionError(f"{where}: no size known for {schema}")


def largest_event_bytes(ce_type: str, schema: dict[str, Any]) -> int:
    data = largest(schema, schema.get("$defs", {}), ce_type)
    widest_id = WIDEST_CHAR * MAX_ID_LENGTH
    headers = kafka_headers(
        id=uuid.uuid4(), source="/songji/notifications", type=ce_type,
        subject=f"notification-{widest_id}", time=datetime.now(UTC), schema_version=1,
        correlation_id=widest_id, causation_id=widest_id, actor_org=widest_id,
        actor_user=widest_id, stream_version=2**63, position=2**63)
    return (len(kafka_value(data)) + sum(len(k) + len(v) for k, v in headers)
            + RECORD_OVERHEAD)


@pytest.mark.parametrize("ce_type", sorted(registered_events()))
def test_every_string_and_list_of_an_event_is_bounded_and_the_largest_fits_the_broker(
    ce_type: str,
) -> None:
    size = largest_event_bytes(ce_type, current_schemas()[ce_type])
    assert size < MAX_EVENT_BYTES, f"{ce_type} can reach {size} bytes"


def test_the_largest_events_are_the_class_completion_and_the_batch() -> None:
    """What the bounds were chosen for: the biggest events stay well inside one message."""
    schemas = current_schemas()
    sizes = {t: largest_event_bytes(t, s) for t, s in schemas.items()}
    biggest = sorted(sizes, key=sizes.get, reverse=True)[:3]
    assert "songji.training.ClassCompleted.v1" in biggest
    assert max(sizes.values()) < 0.9 * MAX_EVENT_BYTES, sizes


def test_an_unbounded_field_is_caught() -> None:
    with pytest.raises(Unbounded, match=r"x\.names: a list without maxItems"):
        largest({"type": "object", "properties": {"names": {
            "type": "array", "items": {"type": "string", "maxLength": 5}}}}, {}, "x")
    with pytest.raises(Unbounded, match=r"x\.name: a string without maxLength"):
        largest({"type": "object", "properties": {"name": {"type": "string"}}}, {}, "x")
