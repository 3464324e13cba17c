"""The CloudEvents 1.0 envelope, carried on Kafka in binary content mode.

Binary mode puts the attributes in ``ce_*`` headers and the event data, as JSON, in the body,
so any CloudEvents SDK reads our topics. Songji's extension attributes (lower-case, as the
spec requires):

- ``correlationid``: the request or journey this event belongs to
- ``causationid``: the id of the event or request that caused it
- ``actororg`` / ``actoruser``: who acted (organisation and user ids, never names)
- ``schemaversion``: the contract version of the data
- ``streamversion`` / ``position``: where the event sits in its stream and in its store
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from shared.contracts.base import Event, model_for

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
# Built once: ``json.dumps`` with options builds an encoder per call, and the relay encodes
# every event it publishes.
_BODY = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class InvalidMessage(ValueError):
    """A message that is not a well-formed Songji CloudEvent, or whose data breaks its contract."""


RawHeaders = Sequence[tuple[str, bytes | None]]


def text_headers(headers: RawHeaders | None) -> dict[str, str]:
    """A Kafka record's headers as text, the last of a repeated name winning (as the services'
    message parser reads them); InvalidMessage naming a header with no value or whose value is
    not UTF-8: such a record cannot be read as a CloudEvent."""
    text: dict[str, str] = {}
    for name, value in headers or ():
        if value is None:
            raise InvalidMessage(f"header {name} has no value")
        try:
            text[name] = value.decode()
        except UnicodeDecodeError:
            raise InvalidMessage(f"header {name} is not UTF-8") from None
    return text


def readable_headers(headers: RawHeaders | None) -> dict[str, str]:
    """The headers as text whatever they hold (no value: empty, bytes that are not UTF-8:
    replaced), to go with a record onto the dead-letter topic or into a log."""
    return {name: (value or b"").decode(errors="replace") for name, value in headers or ()}


class Actor(BaseModel):
    model_config = ConfigDict(frozen=True)

    org: str | None = None
    user: str | None = None


class Metadata(BaseModel):
    """What a command handler knows about why and by whom events are appended."""

    model_config = ConfigDict(frozen=True)

    correlation_id: str
    causation_id: str | None = None
    actor: Actor = Actor()


class Envelope(BaseModel):
    """One event as it travels: the CloudEvents attributes plus its JSON data."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    source: str
    type: str
    subject: str
    time: AwareDatetime
    data: dict[str, Any]
    schema_version: int
    correlation_id: str
    causation_id: str | None = None
    actor_org: str | None = None
    actor_user: str | None = None
    stream_version: int | None = None
    position: int | None = None

    def event(self) -> Event:
        """The data parsed into its contract; raises InvalidMessage when it breaks it."""
        model = model_for(self.type)
        try:
            return model.model_validate(self.data)
        except ValidationError as exc:
            raise InvalidMessage(f"{self.type} data breaks its contract: {exc}") from exc

    # -- Kafka binary content mode -------------------------------------------------------------

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        return kafka_headers(
            id=self.id, source=self.source, type=self.type, subject=self.subject,
            time=self.time, schema_version=self.schema_version,
            correlation_id=self.correlation_id, causation_id=self.causation_id,
            actor_org=self.actor_org, actor_user=self.actor_user,
            stream_version=self.stream_version, position=self.position)

    def kafka_value(self) -> bytes:
        return kafka_value(self.data)

    @classmethod
    def from_kafka(cls, headers: dict[str, str], value: bytes | None) -> Envelope:
        """Read a binary-mode CloudEvent; raise InvalidMessage naming what is wrong."""
        if headers.get("ce_specversion") != SPEC_VERSION:
            raise InvalidMessage(
                f"not a CloudEvents {SPEC_VERSION} message (ce_specversion="
                f"{headers.get('ce_specversion')!r})"
            )
        missing = [h for h in ("ce_id", "ce_source", "ce_type", "ce_subject", "ce_time")
                   if not headers.get(h)]
        if missing:
            raise InvalidMessage(f"missing CloudEvents headers: {', '.join(missing)}")
        try:
            data = json.loads(value or b"")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidMessage(f"body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidMessage("body is not a JSON object")
        try:
            return cls(
                id=headers["ce_id"],
                source=headers["ce_source"],
                type=headers["ce_type"],
                subject=headers["ce_subject"],
                time=datetime.fromisoformat(headers["ce_time"]),
                data=data,
                schema_version=int(headers.get("ce_schemaversion", "1")),
                correlation_id=headers.get("ce_correlationid") or headers["ce_id"],
                causation_id=headers.get("ce_causationid"),
                actor_org=headers.get("ce_actororg"),
                actor_user=headers.get("ce_actoruser"),
                stream_version=_optional_int(headers.get("ce_streamversion")),
                position=_optional_int(headers.get("ce_position")),
            )
        except (ValueError, ValidationError) as exc:
            raise InvalidMessage(f"bad CloudEvents attribute: {exc}") from exc


def kafka_headers(*, id: UUID, source: str, type: str, subject: str, time: datetime,
                  schema_version: int, correlation_id: str, causation_id: str | None = None,
                  actor_org: str | None = None, actor_user: str | None = None,
                  stream_version: int | None = None, position: int | None = None,
                  traceparent: str | None = None, tracestate: str | None = None,
                  ) -> list[tuple[str, bytes]]:
    """The binary-mode headers of one CloudEvent (absent attributes are left out). Also used
    by the relay straight from a stored row, which needs no validation. ``traceparent`` and
    ``tracestate``: the distributed-tracing extension (shared/tracing.py)."""
    attributes = (
        ("ce_specversion", SPEC_VERSION),
        ("ce_id", str(id)),
        ("ce_source", source),
        ("ce_type", type),
        ("ce_subject", subject),
        ("ce_time", time.isoformat()),
        ("ce_schemaversion", str(schema_version)),
        ("ce_correlationid", correlation_id),
        ("ce_causationid", causation_id),
        ("ce_actororg", actor_org),
        ("ce_actoruser", actor_user),
        ("ce_streamversion", _optional_str(stream_version)),
        ("ce_position", _optional_str(position)),
        ("ce_traceparent", traceparent),
        ("ce_tracestate", tracestate),
        ("content-type", CONTENT_TYPE),
    )
    return [(k, v.encode()) for k, v in attributes if v is not None]


def kafka_value(data: dict[str, Any]) -> bytes:
    return _BODY.encode(data).encode()


def _optional_str(value: int | None) -> str | None:
    return None if value is None else str(value)


def _optional_int(value: str | None) -> int | None:
    return None if value is None else int(value)
