"""The auditor's history, derived a slice at a time from spill files, gives exactly the ledger
of ``build_ledger`` on the same records; it accepts exactly the messages the inbox accepts;
and the records the service does not re-derive for cannot change any line."""

from __future__ import annotations

import sys
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.funding.domain import build_ledger
from services.funding.domain.facts import ConflictingDuplicate, Consumed
from services.funding.domain.ledger import (
    counts_only_once_completed,
    derive_lines,
    workers_in,
)
from shared.contracts import Envelope, InvalidMessage
from shared.contracts.envelope import text_headers
from shared.contracts.training import ClassCompleted
from songji.audit.funding_replay import rebuild_ledger
from songji.audit.history import History

from .test_order_independence import build_world, scenario


def _envelope(record: Consumed) -> Envelope:
    return Envelope(id=uuid.UUID(record.event_id), source="/songji/test",
                    type=record.event.ce_type(), subject=record.stream_id,
                    time=record.recorded_at, data=record.event.model_dump(mode="json"),
                    schema_version=1, correlation_id="c", stream_version=record.stream_version)


def _sources_and_own(records: list[Consumed]) -> tuple[list[Consumed], list[Consumed]]:
    own = [r for r in records if r.event.ce_type().startswith("songji.funding.")]
    return [r for r in records if r not in own], own


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=scenario, rnd=st.randoms(use_true_random=False), buckets=st.sampled_from([1, 2, 5, 64]),
       spill=st.booleans())
def test_the_history_derived_a_slice_at_a_time_is_the_ledger(s, rnd, buckets, spill):
    w = build_world(s)
    sources, own = _sources_and_own(w.records)
    shuffled = sources + sources[: len(sources) // 4]
    rnd.shuffle(shuffled)
    with History(buckets=buckets, spill=spill) as history:
        for record in shuffled:
            if rnd.random() < 0.5:  # as read from a topic, or as given
                env = _envelope(record)
                assert history.add_message(env.kafka_headers(), env.kafka_value())
            else:
                history.add(record)
        assert rebuild_ledger(history, own) == build_ledger(w.records)
        expected = sorted(derive_lines(w.records), key=lambda x: x.line_id)
        for processes in (1, 2, 3):  # the buckets shared between forked processes
            lines, counted = history.derive(own, processes=processes)
            assert sorted(lines, key=lambda x: x.line_id) == expected
            assert counted == len(w.records)
        assert sorted(r.event_id for r in history) == sorted(r.event_id for r in sources)
        for record in rnd.sample(w.records, min(3, len(w.records))):
            as_of = record.recorded_at
            assert rebuild_ledger(history, own, as_of=as_of) == build_ledger(w.records,
                                                                             as_of=as_of)


def test_the_history_spills_and_reads_back_many_flushes(monkeypatch):
    import songji.audit.history as module

    monkeypatch.setattr(module, "_FLUSH_AT", 7)
    s = {"trainees": [{"days_a": 6, "days_b": 4, "level": 4, "revoke": True,
                       "voids_before": 1, "voids_after": 1}] * 4,
         "budget_yuan": 1500, "late_budget": True, "second_policy": True, "per_year": 2,
         "pay_first": True, "affiliated_body": False}
    w = build_world(s)
    sources, own = _sources_and_own(w.records)
    with History(buckets=3) as history:
        for record in sources:
            env = _envelope(record)
            history.add_message(env.kafka_headers(), env.kafka_value())
        assert rebuild_ledger(history, own) == build_ledger(w.records)


def test_two_contents_under_one_id_are_reported():
    w = build_world({"trainees": [{"days_a": 2, "days_b": 0, "level": None, "revoke": False,
                                   "voids_before": 0, "voids_after": 0}],
                     "budget_yuan": 0, "late_budget": False, "second_policy": False,
                     "per_year": None, "pay_first": False, "affiliated_body": False})
    attendance = next(r for r in w.records if counts_only_once_completed(r.event))
    forged = Consumed(attendance.event_id, attendance.stream_id, attendance.stream_version,
                      attendance.recorded_at,
                      attendance.event.model_copy(update={"minutes": 1}))
    history = History.of([*w.records, forged])
    with pytest.raises(ConflictingDuplicate):
        history.derive()


def _accepted_by_inbox(headers: list[tuple[str, bytes | None]], value: bytes | None) -> bool:
    """What the services' inbox does with the record (``Inbox.receive``)."""
    try:
        Envelope.from_kafka(text_headers(headers), value).event()
    except (InvalidMessage, ValueError, LookupError):
        return False
    return True


def _variants(env: Envelope) -> list[tuple[list[tuple[str, bytes]], bytes | None]]:
    headers, value = env.kafka_headers(), env.kafka_value()

    def without(name):
        return [(k, v) for k, v in headers if k != name]

    def replaced(name, new):
        return [(k, new if k == name else v) for k, v in headers]

    return [
        (headers, value),
        (without("ce_id"), value), (without("ce_time"), value), (without("ce_type"), value),
        (without("ce_subject"), value), (without("ce_specversion"), value),
        (replaced("ce_specversion", b"0.3"), value), (replaced("ce_id", b"not-a-uuid"), value),
        (replaced("ce_id", str(env.id).upper().encode()), value),
        (replaced("ce_time", b"2025-07-01T08:00:00"), value),
        (replaced("ce_time", b"yesterday"), value),
        (replaced("ce_streamversion", b"x"), value), (replaced("ce_schemaversion", b"1.5"), value),
        (replaced("ce_type", b"songji.training.Nothing.v1"), value),
        (replaced("ce_subject", b"\xff"), value),
        (replaced("ce_source", None), value), ([*headers, ("traceparent", None)], value),
        (headers, None), (headers, b"[1, 2]"), (headers, b"{"), (headers, b"{}"),
        (headers, value.replace(b'"worker_id":', b'"worker":')),
        (headers, value.replace(b"}", b',"extra":1}')),
        (headers, value.replace(b'"minutes":240', b'"minutes":"many"')),
    ]


def test_a_message_is_read_exactly_when_the_inbox_would_accept_it():
    w = build_world({"trainees": [{"days_a": 2, "days_b": 1, "level": 4, "revoke": True,
                                   "voids_before": 1, "voids_after": 0}],
                     "budget_yuan": 0, "late_budget": False, "second_policy": False,
                     "per_year": None, "pay_first": False, "affiliated_body": False})
    checked = 0
    for record in w.records:
        for headers, value in _variants(_envelope(record)):
            history = History(spill=False)
            expected = _accepted_by_inbox(headers, value)
            history.add_message(headers, value)
            assert (len(list(history)) == 1) == expected, (record.event, headers, value)
            checked += expected
            # As the topic reader hands a message over: names and values apart, the names
            # interned and shared.
            split = History(spill=False)
            names = tuple(sys.intern(k) for k, _ in headers)
            split.add_parts(names, tuple(v for _, v in headers), value)
            assert list(split) == list(history)
            assert (split.added, split.skipped) == (history.added, history.skipped)
    assert checked >= len(w.records) * 2  # the valid message and the upper-case id at least


def test_the_verdicts_the_topic_reader_hands_over_are_the_callers_own():
    """The reader process checks authenticity with the caller's keys and owners and hands
    the verdicts over (``topic_reader._judge``): the history the caller builds with them is
    the one it builds checking every record itself, refusals and their reasons included;
    records whose headers it would map otherwise (not ASCII, a null value) go without one."""
    from shared.eventsourcing.authenticity import Authenticity
    from shared.eventsourcing.signing import new_key_pair
    from songji.audit.topic_reader import _judge
    from tests.support import public_keys_in_tests, signed, signed_headers

    w = build_world({"trainees": [{"days_a": 2, "days_b": 1, "level": 4, "revoke": True,
                                   "voids_before": 1, "voids_after": 0}],
                     "budget_yuan": 0, "late_budget": False, "second_policy": False,
                     "per_year": None, "pay_first": False, "affiliated_body": False})
    sources, _ = _sources_and_own(w.records)
    owners = {f"t.{s}": s for s in ("enrolment", "training", "assessment")}
    frame = []
    for record in sources:
        service = record.event.ce_type().split(".")[1]
        env = _envelope(record).model_copy(update={"source": f"/songji/{service}"})
        for headers, value in _variants(env):
            if all(v is not None for _, v in headers):
                headers = signed_headers(service, headers, value or b"")
            frame.append((f"t.{service}", headers, value))
        value, good = signed(env)
        other = "enrolment" if service != "enrolment" else "training"
        frame += [(f"t.{service}", [h for h in good if h[0] != "ce_signature"], value),
                  (f"t.{service}", signed(env, key=new_key_pair()[0])[1], value),
                  (f"t.{other}", good, value), ("t.unowned", good, value),
                  (f"t.{service}", [*good, ("ce_note", "é".encode())], value),
                  (f"t.{service}", [*good, ("ce_id", str(uuid.uuid4()).encode())], value)]
    messages = [(topic, tuple(sys.intern(k) for k, _ in headers),
                 tuple(v for _, v in headers), value, None) for topic, headers, value in frame]
    judged = list(messages)
    _judge(judged, Authenticity(public_keys_in_tests(), owners), lambda: True)
    verdicts = [m[4] for m in judged]
    assert verdicts.count(None) < len(verdicts) // 4 and None in verdicts
    assert {type(v) for v in verdicts} == {bool, str, type(None)}
    histories = []
    for handed in (messages, judged):
        history = History(spill=False,
                          authenticity=Authenticity(public_keys_in_tests(), owners))
        for topic, names, values, value, verdict in handed:
            history.add_parts(names, values, value, topic, verdict)
        histories.append(history)
    here, there = histories
    assert here.refused > len(sources) * 4 and here.skipped > 0
    assert (there.added, there.skipped, there.refused, there.refusals, list(there)) == (
        here.added, here.skipped, here.refused, here.refusals, list(here))


def test_records_with_the_same_header_names_share_one_interned_tuple():
    from songji.audit.topic_reader import _NAME_SEQUENCES, _known

    known: dict[tuple[str, ...], tuple[str, ...]] = {}
    fresh = tuple("".join(["ce_", name]) for name in ("id", "type"))  # not interned
    first = _known(known, fresh)
    assert first == fresh and all(sys.intern(n) is n for n in first)
    assert known.get(tuple("".join(["ce_", name]) for name in ("id", "type"))) is first
    for i in range(_NAME_SEQUENCES):  # a bounded table: later sequences pass as they are
        _known(known, (f"x{i}",))
    late = ("".join(["late", "_name"]),)
    assert _known(known, late) is late and len(known) == _NAME_SEQUENCES


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=scenario, rnd=st.randoms(use_true_random=False))
def test_attendance_of_a_class_not_completed_changes_no_line(s, rnd):
    """Why the service logs such records without re-deriving: for any set of records, the
    lines are the same without the attendance and voids of classes with no completion."""
    w = build_world(s)
    subset = [r for r in w.records if rnd.random() < 0.7]
    completed = {r.event.class_id for r in subset if isinstance(r.event, ClassCompleted)}
    kept = [r for r in subset if not (counts_only_once_completed(r.event)
                                      and r.event.class_id not in completed)]
    assert derive_lines(kept) == derive_lines(subset)
    assert workers_in(kept) == workers_in(subset)


def test_as_of_before_everything_is_empty():
    w = build_world({"trainees": [{"days_a": 3, "days_b": 2, "level": 4, "revoke": False,
                                   "voids_before": 0, "voids_after": 0}],
                     "budget_yuan": 500, "late_budget": False, "second_policy": False,
                     "per_year": None, "pay_first": False, "affiliated_body": False})
    sources, own = _sources_and_own(w.records)
    first = min(r.recorded_at for r in w.records) - timedelta(seconds=1)
    assert rebuild_ledger(History.of(sources), own, as_of=first).lines == ()


def test_a_conflict_met_in_a_forked_process_is_raised_and_nothing_is_left_behind(tmp_path,
                                                                               monkeypatch):
    """Whichever process meets the two contents, ``derive`` raises it; the forked processes
    are waited for and their files removed."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    w = build_world({"trainees": [{"days_a": 2, "days_b": 0, "level": None, "revoke": False,
                                   "voids_before": 0, "voids_after": 0}] * 3,
                     "budget_yuan": 0, "late_budget": False, "second_policy": False,
                     "per_year": None, "pay_first": False, "affiliated_body": False})
    sources, own = _sources_and_own(w.records)
    for attendance in [r for r in sources if counts_only_once_completed(r.event)]:
        forged = Consumed(attendance.event_id, attendance.stream_id,
                          attendance.stream_version, attendance.recorded_at,
                          attendance.event.model_copy(update={"minutes": 1}))
        with History(buckets=4) as history:
            for record in [*sources, forged]:
                env = _envelope(record)
                history.add_message(env.kafka_headers(), env.kafka_value())
            with pytest.raises(ConflictingDuplicate):
                history.derive(own, processes=4)
        assert list(tmp_path.iterdir()) == []


def test_trainees_of_a_class_homed_elsewhere_are_derived_once():
    """A worker's home class is the first class read about them; the classes whose
    completion lists them without a record of theirs, or whose records were read later,
    are found all the same, and every worker is derived in exactly one bucket."""
    w = build_world({"trainees": [{"days_a": 3, "days_b": 2, "level": 4, "revoke": False,
                                   "voids_before": 0, "voids_after": 0},
                                  {"days_a": 0, "days_b": 0, "level": None, "revoke": False,
                                   "voids_before": 0, "voids_after": 0}] * 3,
                     "budget_yuan": 0, "late_budget": False, "second_policy": True,
                     "per_year": 1, "pay_first": False, "affiliated_body": False})
    sources, own = _sources_and_own(w.records)
    for order in (sources, sources[::-1]):
        for buckets in (1, 2, 3, 7, 64):
            with History(buckets=buckets) as history:
                for record in order:
                    env = _envelope(record)
                    history.add_message(env.kafka_headers(), env.kafka_value())
                lines, _ = history.derive(own, processes=2)
                assert len({x.line_id for x in lines}) == len(lines)
                assert sorted(lines, key=lambda x: x.line_id) == sorted(
                    derive_lines(w.records), key=lambda x: x.line_id)
