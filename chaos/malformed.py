"""Malformed messages, of every kind a consumer must survive, on every events topic; and the
check that each one reached the dead-letter topic from every consumer that reads it, with a
reason.

Each message has its own key (``chaos-malformed-<service>-<kind>``); the inbox keeps the key
when it dead-letters, so the dead letters are matched by key and consumer.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chaos.bus import MALFORMED_KEY_PREFIX, Record
from shared.contracts.base import model_for
from shared.eventsourcing.authenticity import sign
from shared.eventsourcing.signing import SigningKey, new_key_pair
from shared.eventsourcing.topics import SERVICES, events_topic
from shared.runtime.service import Subscription

# A known event type per topic whose data is then broken (only the consumers with a handler
# for that type parse the data; the others ignore it, by design).
BROKEN_DATA_TYPE = {
    "enrolment": "songji.enrolment.WorkerEnrolled.v1",
    "training": "songji.training.AttendanceRecorded.v1",
    "assessment": "songji.assessment.SkillLevelCertified.v1",
    "funding": "songji.funding.PaymentConfirmed.v1",
    "notifications": "songji.notifications.NotificationDelivered.v1",
    "employment": "songji.employment.WorkerPlaced.v1",
}
KINDS = ("no_cloudevents_headers", "missing_headers", "header_without_value",
         "header_not_utf8", "body_not_json", "body_not_object", "unknown_event_type",
         "data_breaks_contract",
         # forged: well-formed, but not what the topic's service published
         "unsigned", "signed_by_another_key", "type_of_another_service",
         "source_not_its_service")
# What the dead letter of each forged kind must say (every reader checks these first).
FORGED_REASONS = {
    "unsigned": "unsigned",
    "signed_by_another_key": "does not verify under",
    "type_of_another_service": "not to the topic of",
    "source_not_its_service": "ce_source 'https://attacker.example'",
}
# Whose type is put on each service's topic by ``type_of_another_service``.
ANOTHER = dict(zip(SERVICES, (*SERVICES[1:], SERVICES[0]), strict=True))


@dataclass(frozen=True)
class Consumer:
    name: str  # as the inbox calls itself: <service>.<subscription>
    services: tuple[str, ...]
    handles: frozenset[str]


def consumers() -> list[Consumer]:
    """Every consumer of every service, from the services' own subscriptions."""
    found = []
    for service in SERVICES:
        module = importlib.import_module(f"services.{service}.consumers")
        for value in vars(module).values():
            if isinstance(value, Subscription):
                found.append(Consumer(f"{service}.{value.name}", tuple(value.services),
                                      frozenset(m.ce_type() for m in value.handlers)))
    return found


@dataclass(frozen=True)
class Malformed:
    service: str
    kind: str
    record: Record
    expected_by: frozenset[str]  # consumers that must dead-letter it


def _headers(ce_type: str, service: str) -> list[tuple[str, bytes | None]]:
    attributes = {"ce_specversion": "1.0", "ce_id": str(uuid.uuid4()),
                  "ce_source": f"/songji/{service}", "ce_type": ce_type,
                  "ce_subject": "chaos-stream", "ce_time": datetime.now(UTC).isoformat(),
                  "ce_schemaversion": "1"}
    return [(k, v.encode()) for k, v in attributes.items()]


def _signed(headers: list[tuple[str, bytes | None]], value: bytes, key: str
            ) -> list[tuple[str, bytes | None]]:
    """Signed with ``key`` (a private key text), where a header with no value allows it."""
    if any(v is None for _, v in headers):
        return headers
    complete = [(k, v) for k, v in headers if v is not None]
    return list(sign(complete, value, SigningKey(key)))


def _with(headers: list[tuple[str, bytes | None]], name: str, value: bytes | None
          ) -> list[tuple[str, bytes | None]]:
    return [*headers, (name, value)]


def messages(prefix: str, keys: Mapping[str, str], round_: int = 0) -> list[Malformed]:
    """The malformed and forged messages of one round; ``keys`` are the services' private
    keys: a message that is well-formed in all but one way is signed by its service, so that
    it is that one way that gets it refused."""
    assert all(model_for(t) for t in BROKEN_DATA_TYPE.values())
    everyone = consumers()
    out = []
    attacker_key = new_key_pair()[0]
    for service in SERVICES:
        topic = events_topic(service, prefix)
        readers = [c for c in everyone if service in c.services]
        broken_type = BROKEN_DATA_TYPE[service]
        valid_data = b"{}"  # refused for its headers before the data is looked at
        other = ANOTHER[service]
        genuine = _headers(broken_type, service)
        attacker = [(k, b"https://attacker.example" if k == "ce_source" else v)
                    for k, v in genuine]
        bodies: dict[str, tuple[list[tuple[str, bytes | None]], bytes]] = {
            "no_cloudevents_headers": ([], b"hello, kafka"),
            "missing_headers": ([("ce_specversion", b"1.0"), ("ce_type", broken_type.encode())],
                                b"{}"),
            "header_without_value": (
                _with(_headers(broken_type, service), "ce_actoruser", None), valid_data),
            "header_not_utf8": (_with(_headers(broken_type, service), "ce_actoruser",
                                      "站点".encode("gb18030")), valid_data),
            "body_not_json": (_headers(broken_type, service), b"\xff{not json"),
            "body_not_object": (_headers(broken_type, service), b"[1, 2, 3]"),
            "unknown_event_type": (_headers(f"songji.{service}.NoSuchThing.v1", service),
                                   b"{}"),
            "data_breaks_contract": (_headers(broken_type, service),
                                     json.dumps({"worker_id": 42}).encode()),
        }
        bodies = {kind: (_signed(headers, value, keys[service]), value)
                  for kind, (headers, value) in bodies.items()}
        bodies |= {
            "unsigned": (genuine, valid_data),
            "signed_by_another_key": (_signed(genuine, valid_data, attacker_key), valid_data),
            "type_of_another_service": (_signed(_headers(BROKEN_DATA_TYPE[other], other),
                                                valid_data, keys[other]), valid_data),
            "source_not_its_service": (_signed(attacker, valid_data, keys[service]),
                                       valid_data),
        }
        for kind, (headers, value) in bodies.items():
            key = MALFORMED_KEY_PREFIX + f"{service}-{kind}-{round_}".encode()
            expected = frozenset(c.name for c in readers
                                 if kind != "data_breaks_contract" or broken_type in c.handles)
            out.append(Malformed(service, kind, Record(topic, 0, -1, key, value,
                                                       tuple(headers)), expected))
    return out


@dataclass
class DeadLetterCheck:
    expected: int = 0  # (message, consumer) pairs
    found: int = 0
    missing: list[str] = field(default_factory=list)
    without_reason: list[str] = field(default_factory=list)  # or not the reason expected
    reasons: dict[str, str] = field(default_factory=dict)  # kind -> one reason seen
    # Letters of records that were not injected malformed: valid events a consumer gave up on
    valid_dead_lettered: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.without_reason and not self.valid_dead_lettered


def check_dead_letters(injected: list[Malformed], dead: list[Record]) -> DeadLetterCheck:
    by_key: dict[bytes | None, dict[str, Record]] = defaultdict(dict)
    for r in dead:
        by_key[r.key][r.header.get("dlq_consumer", "?")] = r
    result = DeadLetterCheck()
    for r in dead:
        if not (r.key or b"").startswith(MALFORMED_KEY_PREFIX):
            result.valid_dead_lettered.append(
                f"{r.header.get('ce_type', '?')} {r.header.get('ce_id', '?')} by "
                f"{r.header.get('dlq_consumer', '?')}: {r.header.get('dlq_reason', '')[:120]}")
    for m in injected:
        for consumer in sorted(m.expected_by):
            result.expected += 1
            letter = by_key.get(m.record.key, {}).get(consumer)
            label = f"{m.service}/{m.kind} by {consumer}"
            if letter is None:
                result.missing.append(label)
                continue
            result.found += 1
            h = letter.header
            reason = h.get("dlq_reason") or ""
            if (not reason or h.get("dlq_origin_topic") != m.record.topic
                    or FORGED_REASONS.get(m.kind, "") not in reason):
                result.without_reason.append(label)
            else:
                result.reasons.setdefault(m.kind, h["dlq_reason"][:90])
    return result
