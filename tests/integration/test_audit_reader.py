"""The auditor reads the topics in a reader process: the history it gets is the one reading
in-process gives (malformed messages skipped alike, an empty topic read as empty), the
ledger rebuilt from it is ``build_ledger``'s, and a reader that fails makes the caller fail
with its error, leaving no process and no file behind."""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from services.funding.domain import build_ledger
from shared.contracts import Envelope, InvalidMessage
from shared.contracts.envelope import text_headers
from shared.eventsourcing.authenticity import SIGNATURE_HEADER, Authenticity
from shared.eventsourcing.signing import new_key_pair
from shared.eventsourcing.topics import ensure_topics, events_topic
from songji.audit.funding_replay import rebuild_ledger, records_from_topics
from songji.audit.history import History
from tests.support import public_keys_in_tests, signed, signed_headers
from tests.unit.funding.test_history import (
    _envelope,
    _sources_and_own,
    _variants,
)
from tests.unit.funding.test_order_independence import build_world

SERVICES = ("enrolment", "training", "assessment")  # nothing is written to enrolment's
WORLD = {"trainees": [{"days_a": 3, "days_b": 2, "level": 4, "revoke": True,
                       "voids_before": 1, "voids_after": 1},
                      {"days_a": 2, "days_b": 0, "level": None, "revoke": False,
                       "voids_before": 0, "voids_after": 0}] * 3,
         "budget_yuan": 0, "late_budget": False, "second_policy": True, "per_year": 1,
         "pay_first": False, "affiliated_body": False}


def _accepted_by_inbox(headers: list[tuple[str, bytes | None]], value: bytes | None) -> bool:
    """What the services' inbox does with the record on its own service's topic
    (``Inbox.receive``: well-formed, authentic, its data within its contract)."""
    try:
        text = text_headers(headers)
        envelope = Envelope.from_kafka(text, value)
        owner = envelope.type.split(".")[1]
        Authenticity(public_keys_in_tests(), {"t": owner}).check(text, value, "t")
        envelope.event()
    except (InvalidMessage, ValueError, LookupError):
        return False
    return True


def _children() -> set[int]:
    """This process's living child processes (Linux; the embedded broker is one)."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        found |= {int(pid) for pid in (task / "children").read_text().split()}
    return found


def _contents(history: History) -> dict[str, Any]:
    """All a history holds, independent of the order the records were read in (the reader
    and the consumer here may interleave partitions differently)."""
    entries = [e for b in range(history.buckets) for e in history._entries(b)]
    return {"added": history.added, "skipped": history.skipped, "refused": history.refused,
            "kept": sorted(history.kept), "entries": sorted(entries, key=repr),
            "classes": {c: sorted((history._class_entry(e) for e in v), key=repr)
                        for c, v in history.classes.items()},
            "records": sorted((r.event_id, repr(r)) for r in history)}


async def _publish(bootstrap: str, prefix: str,
                   messages: list[tuple[str, bytes, list[tuple[str, bytes]], bytes | None]]
                   ) -> None:
    await ensure_topics(bootstrap, [events_topic(s, prefix) for s in SERVICES])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for topic, key, headers, value in messages:  # keyed by stream, as the relay does
            await producer.send(topic, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


@pytest.fixture
def no_temporary_files_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    yield tmp_path
    assert list(tmp_path.iterdir()) == []


async def test_the_reader_process_reads_the_history_read_in_process(
        kafka_bootstrap: str, topic_prefix: str, no_temporary_files_left: Path) -> None:
    before = _children()
    w = build_world(WORLD)
    sources, own = _sources_and_own(w.records)
    messages, accepted = [], []
    forged = 0
    for record in sources:
        service = record.event.ce_type().split(".")[1]
        topic = events_topic(service, topic_prefix)
        env = _envelope(record).model_copy(update={"source": f"/songji/{service}"})
        for headers, value in _variants(env):
            # Each variant signed by its service (where it can be: a header without a value
            # cannot be signed), as if its relay had published it.
            if all(v is not None for _, v in headers):
                headers = signed_headers(service, headers, value or b"")
            messages.append((topic, record.stream_id.encode(), headers, value))
            accepted.append(_accepted_by_inbox(headers, value))
        # and forged: unsigned, signed by another key, on another service's topic
        value, good = signed(env)
        other = "enrolment" if service != "enrolment" else "training"
        for headers, where in (([h for h in good if h[0] != SIGNATURE_HEADER], topic),
                               (signed(env, key=new_key_pair()[0])[1], topic),
                               (good, events_topic(other, topic_prefix))):
            messages.append((where, record.stream_id.encode(), headers, value))
            forged += 1
    await _publish(kafka_bootstrap, topic_prefix, messages)

    counted: list[int] = []
    keys = public_keys_in_tests()
    read = await records_from_topics(kafka_bootstrap, topic_prefix, services=SERVICES,
                                     idle_ms=1000, progress=counted.append, public_keys=keys)
    here = await records_from_topics(kafka_bootstrap, topic_prefix, services=SERVICES,
                                     idle_ms=1000, reader_process=False, public_keys=keys)
    # The verdicts on authenticity reached in the reader process (every one of them here;
    # by default only while the caller is behind) are the caller's own.
    judged_there, judged_here = [
        await records_from_topics(kafka_bootstrap, topic_prefix, services=SERVICES,
                                  idle_ms=1000, public_keys=keys, reader_checks=checks)
        for checks in ("all", "none")]
    try:
        assert _contents(read) == _contents(here) == _contents(judged_there) == _contents(
            judged_here)
        # every message came through: read, skipped (refused for its headers; bodies that
        # break their contract are dropped when derived) or refused as forged, and the valid
        # records are the sources, each once
        assert read.added + read.skipped + read.refused == len(messages)
        assert read.skipped > 0 and read.refused == here.refused == forged
        assert read.refusals and judged_there.refusals and all(
            any(why in r for why in ("unsigned", "does not verify", "not to the topic of"))
            for r in read.refusals + judged_there.refusals)
        valid = list(read)
        assert len(valid) == len(sources) < sum(accepted)
        assert {r.event_id for r in valid} == {r.event_id for r in sources}
        assert counted and counted[-1] == len(read)
        expected = build_ledger(w.records)
        assert rebuild_ledger(read, own) == rebuild_ledger(here, own) == expected
        assert expected.lines
    finally:
        for history in (read, here, judged_there, judged_here):
            history.close()
    assert _children() == before


async def test_empty_topics_give_an_empty_history(
        kafka_bootstrap: str, topic_prefix: str, no_temporary_files_left: Path) -> None:
    before = _children()
    await ensure_topics(kafka_bootstrap, [events_topic(s, topic_prefix) for s in SERVICES])
    for reader_process in (True, False):
        with await records_from_topics(kafka_bootstrap, topic_prefix, services=SERVICES,
                                       idle_ms=500, reader_process=reader_process,
                                       public_keys=public_keys_in_tests()) as history:
            assert len(history) == 0 and history.skipped == 0
            assert rebuild_ledger(history).lines == ()
    assert _children() == before


async def test_an_error_in_the_reader_process_is_raised_in_the_caller(
        no_temporary_files_left: Path) -> None:
    """The broker unreachable: the reader's error, as reading in-process raises it; the
    reader is gone and the history's spill directory too."""
    before = _children()
    unreachable = "127.0.0.1:9"  # the discard port: nothing listens there
    for reader_process in (True, False):
        with pytest.raises(KafkaConnectionError):
            await records_from_topics(unreachable, "nowhere", idle_ms=500,
                                      reader_process=reader_process,
                                      public_keys=public_keys_in_tests())
    assert _children() == before


async def test_a_reader_that_dies_is_reported_and_waited_for(
        kafka_bootstrap: str, topic_prefix: str, no_temporary_files_left: Path,
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader process that ends without its last frame (killed, say) is an error, not
    the end of the topics."""
    from songji.audit.topic_reader import ReaderFailed

    before = _children()
    await ensure_topics(kafka_bootstrap, [events_topic(s, topic_prefix) for s in SERVICES])
    dies = tmp_path_factory.mktemp("reader") / "dies"
    dies.write_text("#!/bin/sh\nexit 3\n")
    dies.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(dies))  # what the reader is started with
    with pytest.raises(ReaderFailed, match="ended with 3"):
        await records_from_topics(kafka_bootstrap, topic_prefix, idle_ms=500,
                                  public_keys=public_keys_in_tests())
    assert _children() == before


async def test_a_caller_that_stops_early_leaves_no_reader_and_no_error_behind(
        kafka_bootstrap: str, topic_prefix: str) -> None:
    """The caller takes one batch and stops: the reader is ended and waited for, and the read
    it no longer waits for is not reported as an exception never retrieved."""
    from songji.audit.topic_reader import read_topics

    sources, _ = _sources_and_own(build_world(WORLD).records)
    await _publish(kafka_bootstrap, topic_prefix, [
        (events_topic(r.event.ce_type().split(".")[1], topic_prefix), r.stream_id.encode(),
         _envelope(r).kafka_headers(), _envelope(r).kafka_value()) for r in sources])
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    before_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    before = _children()
    try:
        topics = [events_topic(s, topic_prefix) for s in SERVICES]
        batches = read_topics(kafka_bootstrap, topics, idle_ms=500)
        async for records in batches:
            assert records
            break
        await batches.aclose()
        gc.collect()
        await asyncio.sleep(0.1)
    finally:
        loop.set_exception_handler(before_handler)
    assert _children() == before
    assert [c.get("message") for c in reported] == []
