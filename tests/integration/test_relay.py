"""The outbox relay on the real broker: order, crash and resume, an empty broker."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from shared.contracts import Metadata
from shared.contracts.enrolment import WorkerRegistered
from shared.eventsourcing.authenticity import Authenticity
from shared.eventsourcing.relay import Checkpoint, Relay
from shared.eventsourcing.signing import SigningKey
from shared.eventsourcing.store import EventStore
from shared.eventsourcing.topics import events_topic
from shared.infra.kafka import EmbeddedKafka
from tests.support import TEST_PRIVATE_KEYS, header, public_keys_in_tests, read_topic

pytestmark = pytest.mark.integration

META = Metadata(correlation_id="relay-test")
ENROLMENT_KEY = SigningKey(TEST_PRIVATE_KEYS["enrolment"])


async def fill(store: EventStore, streams: int, per_stream: int) -> None:
    for version in range(per_stream):  # interleave streams in the store
        for s in range(streams):
            await store.append(f"stream-{s}", version,
                               [WorkerRegistered(worker_id=f"{s}-{version}", gender="male",
                                                 birth_year=1980)], META)


def first_seen_versions(records) -> dict[str, list[int]]:
    """Per stream, the versions in the order they first appear on the topic."""
    seen: set[str] = set()
    order: dict[str, list[int]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        event_id = header(record, "ce_id")
        if event_id in seen:
            continue
        seen.add(event_id)
        order[record.key.decode()].append(int(header(record, "ce_streamversion")))
    return order


class CrashAfterPublishing(Relay):
    """Dies between sending to the broker and writing its checkpoint: the worst moment."""

    async def _save_checkpoint(self, checkpoint: Checkpoint, refused=None) -> None:
        if checkpoint.position > 0:
            raise SystemExit("simulated crash")
        await super()._save_checkpoint(checkpoint, refused)


async def test_relay_resumes_after_a_crash_without_losing_anything(
    store: EventStore, kafka_bootstrap: str, topic_prefix: str
) -> None:
    streams, per_stream = 6, 10
    await fill(store, streams, per_stream)
    topic = events_topic("enrolment", topic_prefix)
    options = dict(service="enrolment", signer=ENROLMENT_KEY, bootstrap_servers=kafka_bootstrap,
                   topic=topic, batch_size=17)

    crashing = CrashAfterPublishing(store, **options)
    await crashing._connect()
    with pytest.raises(SystemExit):
        await crashing.publish_pending()
    await crashing.close()
    assert (await crashing.load_checkpoint()).position == 0  # nothing checkpointed

    relay = Relay(store, **options)
    await relay._connect()
    while await relay.publish_pending():
        pass
    await relay.close()
    assert (await relay.load_checkpoint()).position == streams * per_stream

    records = await read_topic(kafka_bootstrap, topic, at_least=streams * per_stream + 17)
    ids = {header(r, "ce_id") for r in records}
    stored = await store.read_after(0, 10_000)
    assert ids == {str(e.event_id) for e in stored}, "an event never reached the topic"
    assert len(records) == streams * per_stream + 17  # the crashed batch, twice
    order = first_seen_versions(records)
    assert set(order) == {f"stream-{s}" for s in range(streams)}
    for versions in order.values():
        assert versions == list(range(1, per_stream + 1))
    sample = records[0]
    assert header(sample, "ce_specversion") == "1.0"
    assert header(sample, "ce_source") == "/songji/enrolment"
    assert header(sample, "ce_correlationid") == "relay-test"
    # Every record is signed by enrolment's key, over its headers and body, as readers check.
    readers = Authenticity(public_keys_in_tests(), {topic: "enrolment"})
    for record in records:
        readers.check({k: v for k, v in record.headers}, record.value, topic)


async def test_relay_republishes_when_the_broker_comes_back_empty(
    store: EventStore, topic_prefix: str
) -> None:
    topic = events_topic("enrolment", topic_prefix)
    with EmbeddedKafka() as broker:
        relay = Relay(store, service="enrolment", signer=ENROLMENT_KEY,
                      bootstrap_servers=broker.bootstrap_servers,
                      topic=topic, poll_interval=0.1, probe_interval=0.3)
        task = asyncio.create_task(relay.run())
        try:
            await fill(store, 3, 4)
            first = await read_topic(broker.bootstrap_servers, topic, at_least=12)
            assert len({header(r, "ce_id") for r in first}) == 12

            broker.restart_empty()
            again = await read_topic(broker.bootstrap_servers, topic, at_least=12, seconds=30)
            assert len({header(r, "ce_id") for r in again}) == 12
            assert relay.republish_count >= 1
            for versions in first_seen_versions(again).values():
                assert versions == [1, 2, 3, 4]
        finally:
            relay.stop()
            await asyncio.wait_for(task, timeout=30)
