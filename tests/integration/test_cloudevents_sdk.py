"""Interoperability with the official CloudEvents SDK (``cloudevents``, its Kafka binding).

What a service's relay puts on the bus is read by the SDK's ``from_binary`` from the raw Kafka
record, with every attribute and the data as Songji's own reader sees them. An event the SDK
writes is read by Songji's reader too; the inbox still refuses it while it is unsigned, because
a consumer acts only on events signed by the key of the service that owns the topic (anyone
who can write to the broker could otherwise put forged attendance or completions on it), and
accepts it once signed with that key, as the owner's relay signs.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from services.enrolment.app import SPEC as ENROLMENT
from services.enrolment.domain.national_id import check_digit
from shared.contracts import Envelope
from shared.contracts.envelope import text_headers
from shared.contracts.training import ClassScheduled, SessionPlan
from shared.eventsourcing.authenticity import Authenticity
from shared.eventsourcing.topics import events_topic
from tests.orgs import FUKANG, auth
from tests.support import (
    produce,
    public_keys_in_tests,
    read_topic,
    running_service,
    signed_headers,
)

pytestmark = pytest.mark.integration

FIRST17 = "53012819950612002"


def kafka_message(record) -> KafkaMessage:  # type: ignore[no-untyped-def]
    return KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)


async def test_the_sdk_reads_what_a_relay_publishes(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    async with running_service(ENROLMENT, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        registration = {"name": "李四妹", "national_id": FIRST17 + check_digit(FIRST17),
                        "mobile": "15912345678", "hometown_county": "禄劝彝族苗族自治县",
                        "hometown_township": "翠华镇", "household_county": "禄劝彝族苗族自治县",
                        "work_site": FUKANG, "employer": "阜康某农业公司"}
        response = await api.post("/workers", json=registration,
                                  headers=auth("station-fukang", "liaison-7"))
        assert response.status_code == 201, response.text
        worker_id = response.json()["worker_id"]
        records = await read_topic(kafka_bootstrap, events_topic("enrolment", topic_prefix),
                                   at_least=1)
    assert records
    for record in records:
        event = from_binary(kafka_message(record), JSONFormat())
        ours = Envelope.from_kafka(text_headers(record.headers), record.value)
        assert event.get_specversion() == "1.0"
        assert event.get_id() == str(ours.id)
        assert event.get_type() == ours.type
        assert event.get_source() == ours.source == "/songji/enrolment"
        assert event.get_subject() == ours.subject == record.key.decode()
        assert event.get_time() == ours.time and ours.time.utcoffset() is not None
        assert event.get_datacontenttype() == "application/json"
        assert event.get_data() == ours.data
        assert event.get_extension("actororg") == "station-fukang"
        assert event.get_extension("schemaversion") == str(ours.schema_version)
        assert event.get_extension("partitionkey") == ours.subject  # the binding's key
    registered = [from_binary(kafka_message(r), JSONFormat()) for r in records]
    assert {e.get_type() for e in registered} == {"songji.enrolment.WorkerRegistered.v1"}
    assert registered[0].get_data()["worker_id"] == worker_id  # type: ignore[index]


def sdk_event() -> CloudEvent:
    plan = SessionPlan(session_id="s-1", date=date(2025, 7, 24), start_local="19:30",
                       end_local="22:00", kind="classroom_theory", minutes=150)
    data = ClassScheduled(class_id="c-sdk", institution_id="inst-1",
                          occupation_code="electrician", target_level=4, site=FUKANG,
                          mode="night", capacity=60, sessions=[plan], required_minutes=120)
    return CloudEvent({
        "id": str(uuid.uuid4()), "source": "/songji/training",
        "type": data.ce_type(), "subject": "class-c-sdk",
        "time": datetime(2025, 7, 20, 9, 0, tzinfo=UTC),
        "datacontenttype": "application/json", "schemaversion": "1",
        "correlationid": "sdk-1", "actororg": "org-inst-1",
    }, data.model_dump(mode="json"))


async def test_songji_reads_what_the_sdk_writes_and_the_inbox_wants_it_signed(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = events_topic("training", topic_prefix)
    written = sdk_event()
    message = to_binary(written, JSONFormat(), key_mapper=lambda e: e.get_subject())
    await produce(kafka_bootstrap, topic, message.value, key=message.key.encode(),  # type: ignore[union-attr]
                  headers=list(message.headers.items()))
    [record] = await read_topic(kafka_bootstrap, topic, at_least=1)

    envelope = Envelope.from_kafka(text_headers(record.headers), record.value)
    assert str(envelope.id) == written.get_id()
    assert envelope.time == written.get_time()
    assert (envelope.correlation_id, envelope.actor_org) == ("sdk-1", "org-inst-1")
    event = envelope.event()
    assert isinstance(event, ClassScheduled)
    assert event.sessions[0].start_local.isoformat() == "19:30:00"
    assert json.loads(record.value) == written.get_data()

    # the inbox's check: refused unsigned, accepted once training's key signed it
    authenticity = Authenticity(public_keys_in_tests(), {topic: "training"})
    assert authenticity.verdict(dict(record.headers), record.value, topic) == (
        "unsigned (no ce_signature)")
    signed = dict(signed_headers("training", list(record.headers), record.value))
    assert authenticity.verdict(signed, record.value, topic) is True
