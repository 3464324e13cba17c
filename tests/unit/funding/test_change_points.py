"""A record that ``Facts.add`` says cannot change what is due is skipped as a change point
(no entitlements are worked out at its time). Skipping one must change no line: the lines
are the same as when every record's time is a change point."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from services.funding.domain.facts import Consumed, Facts, canonical
from services.funding.domain.ledger import derive_lines

from .test_order_independence import build_world, scenario
from .world import FUKANG_DAYS, World, fukang_uplift


def _every_record_a_change_point(records: list[Consumed]) -> list:
    add = Facts.add

    def always(self: Facts, record: Consumed) -> bool:
        add(self, record)
        return True

    with mock.patch.object(Facts, "add", always):
        return derive_lines(canonical(records))


# When each assessment is scheduled (hours after the class completed; certificates come at
# hour 5), whether its assessors taught the class, and which certificates name it.
assessments = st.lists(
    st.fixed_dictionaries({"hour": st.integers(1, 9), "taught": st.booleans()}),
    min_size=0, max_size=3)


@settings(max_examples=60, deadline=None)
@given(assessments, st.lists(st.integers(0, 3), min_size=1, max_size=4), st.booleans())
def test_assessments_scheduled_before_or_after_their_certificates(
        plans: list[dict], named: list[int], twice: bool) -> None:
    w = World()
    w.policy(uplifts=fukang_uplift())
    w.body()
    workers = [f"w-{i}" for i in range(len(named))]
    done = w.run_class("a", FUKANG_DAYS, dict.fromkeys(workers, len(FUKANG_DAYS)),
                       trainers=["trainer-1"])
    for i, plan in enumerate(plans):
        for _ in range(2 if twice else 1):  # a second one with the same id changes nothing
            w.assessment(f"as-{i}", "a", ["trainer-1"] if plan["taught"] else ["assessor-9"],
                         at=done.recorded_at + timedelta(hours=plan["hour"]))
    for worker, n in zip(workers, named, strict=True):
        w.certify(worker, "a", assessment_id=f"as-{n}",
                  at=done.recorded_at + timedelta(hours=5))
    assert derive_lines(canonical(w.records)) == _every_record_a_change_point(w.records)


@settings(max_examples=40, deadline=None)
@given(scenario)
def test_the_worlds_of_the_order_independence_tests(s: dict) -> None:
    records = build_world(s).records
    assert derive_lines(canonical(records)) == _every_record_a_change_point(records)
