"""Worked examples in yuan: every amount below was computed by hand, not by the code."""

from __future__ import annotations

from datetime import date

import pytest

from services.funding.domain import build_ledger
from services.funding.domain.money import format_yuan, uplifted
from services.funding.domain.policy import PolicyState, PublishFundingPolicy, decide_publish
from shared.contracts.funding import LivingSubsidy, Uplift
from shared.runtime.errors import DomainError

from .world import (
    CROP_PROTECTION,
    ELECTRICIAN,
    FUKANG_DAYS,
    PUTUO,
    STANDARD_RATES,
    World,
    days,
    fukang_uplift,
    yuan,
)


def amounts(ledger, rule):
    """Net amount per worker for one rule (the sum of its lines)."""
    out: dict[str, int] = {}
    for x in ledger.lines:
        if x.rule == rule:
            out[x.worker_id] = out.get(x.worker_id, 0) + x.amount_fen
    return out


def fukang_world() -> World:
    """The Fukang electrician class, 24 July - 7 August 2025 (15 nightly sessions of 4 h),
    Xinjiang uplift +50%, threshold 80% (12 of 15 sessions), living 60 + 20 yuan a day."""
    w = World()
    w.policy(uplifts=fukang_uplift())
    w.body()
    w.run_class("fukang-elec-1", FUKANG_DAYS, {
        "w-a": 15,  # full attendance, certified level 4
        "w-b": 12,  # exactly 80%, certified level 4
        "w-c": 11,  # 73%: below threshold, certified anyway
        "w-d": 15,  # certified level 5 only
        "w-e": 15,  # never certified
        "w-f": 5,   # dropped out
    })
    for worker, level in [("w-a", 4), ("w-b", 4), ("w-c", 4), ("w-d", 5)]:
        w.certify(worker, "fukang-elec-1", level=level)
    return w


def test_fukang_training_subsidy_per_certified_trainee_over_threshold():
    ledger = build_ledger(fukang_world().records)
    training = amounts(ledger, "training_subsidy")
    # level 4: 1,500 yuan + 50% = 2,250 yuan; level 5: 1,000 yuan + 50% = 1,500 yuan
    assert training == {"w-a": yuan(2250), "w-b": yuan(2250), "w-d": yuan(1500)}
    assert {x.payee_id for x in ledger.lines if x.rule == "training_subsidy"} == {"inst-1"}
    # the institution is owed 2,250 + 2,250 + 1,500 = 6,000 yuan
    assert ledger.total_fen(payee_id="inst-1") == yuan(6000)


def test_fukang_living_subsidy_per_attended_day_certified_or_not():
    ledger = build_ledger(fukang_world().records)
    # 80 yuan a day (60 meals + 20 transport)
    assert amounts(ledger, "living_subsidy") == {
        "w-a": yuan(15 * 80), "w-b": yuan(12 * 80), "w-c": yuan(11 * 80),
        "w-d": yuan(15 * 80), "w-e": yuan(15 * 80), "w-f": yuan(5 * 80),
    }
    living = [x for x in ledger.lines if x.rule == "living_subsidy"]
    assert all(x.payee_kind == "worker" and x.payee_id == x.worker_id for x in living)
    # 1200 + 960 + 880 + 1200 + 1200 + 400 = 5,840 yuan
    assert sum(x.amount_fen for x in living) == yuan(5840)


def test_every_line_names_its_justifying_events_and_policy():
    w = fukang_world()
    ledger = build_ledger(w.records)
    ids = {r.event_id: r for r in w.records}
    line = next(x for x in ledger.lines if x.rule == "training_subsidy" and x.worker_id == "w-a")
    kinds = {type(ids[i].event).__name__ for i in line.justified_by}
    assert {"ClassCompleted", "FundingPolicyPublished", "AttendanceRecorded",
            "SkillLevelCertified", "AssessmentBodyRegistered"} <= kinds
    assert (line.policy_id, line.policy_version, line.kind) == ("luquan-2025", 1, "due")
    assert line.corrects_line_id is None


def test_line_ids_are_deterministic():
    a = build_ledger(fukang_world().records)
    b = build_ledger(fukang_world().records)
    assert [x.line_id for x in a.lines] == [x.line_id for x in b.lines]
    assert len({x.line_id for x in a.lines}) == len(a.lines)


def test_no_uplift_outside_the_uplifted_site():
    w = World()
    w.policy(uplifts=fukang_uplift())
    w.body()
    putuo_days = days(date(2025, 9, 6), date(2025, 9, 14))
    w.run_class("putuo-elec", putuo_days, {"w-s": 9}, site=PUTUO)
    w.certify("w-s", "putuo-elec", level=4)
    assert amounts(build_ledger(w.records), "training_subsidy") == {"w-s": yuan(1500)}


def test_occupation_uplift_and_largest_uplift_wins():
    w = World()
    w.policy(uplifts=[Uplift(percent=20, occupation_code=CROP_PROTECTION),
                      Uplift(percent=30, province="Xinjiang", city="Fukang")])
    w.body()
    w.run_class("fk-crop", FUKANG_DAYS, {"w-1": 15}, occupation=CROP_PROTECTION)
    w.run_class("pt-crop", days(date(2025, 9, 1), date(2025, 9, 5)), {"w-2": 5},
                occupation=CROP_PROTECTION, site=PUTUO)
    w.certify("w-1", "fk-crop", level=4, occupation=CROP_PROTECTION)
    w.certify("w-2", "pt-crop", level=4, occupation=CROP_PROTECTION)
    # 1,200 yuan: +30% in Fukang (the larger of 20% and 30%) = 1,560; +20% in Putuo = 1,440
    assert amounts(build_ledger(w.records), "training_subsidy") == {
        "w-1": yuan(1560), "w-2": yuan(1440)}


def test_rounding_half_up_to_the_fen():
    assert uplifted(yuan(1500), 50) == yuan(2250)
    assert uplifted(1, 50) == 2            # 1.5 fen -> 2 fen (half up)
    assert uplifted(10, 25) == 13          # 12.5 fen -> 13 fen
    assert uplifted(133333, 15) == 153333  # 1,333.33 yuan +15% = 1,533.3295 -> 1,533.33
    assert uplifted(133337, 15) == 153338  # 1,533.3755 -> 1,533.38
    assert format_yuan(225000) == "2250.00" and format_yuan(-8000) == "-80.00"


def test_rounding_in_a_ledger_line():
    w = World()
    rate = [*STANDARD_RATES]
    rate[1] = rate[1].model_copy(update={"amount_fen": 133333})  # electrician 4: 1,333.33
    w.policy(training=rate, uplifts=[Uplift(percent=15, occupation_code=ELECTRICIAN)])
    w.body()
    w.run_class("c", FUKANG_DAYS, {"w": 15})
    w.certify("w", "c", level=4)
    assert amounts(build_ledger(w.records), "training_subsidy") == {"w": 153333}


def test_uplift_above_fifty_percent_is_refused():
    cmd = PublishFundingPolicy(
        policy_id="luquan-2025", effective_from=date(2025, 1, 1),
        training_subsidies=STANDARD_RATES,
        uplifts=[Uplift(percent=51, province="Xinjiang")],
        living_subsidy=LivingSubsidy(meals_fen_per_day=6000, transport_fen_per_day=2000),
        attendance_threshold_percent=80)
    with pytest.raises(DomainError) as err:
        decide_publish(cmd, PolicyState(), date(2025, 6, 1))
    assert err.value.code == "uplift_above_ceiling"
    ok = cmd.model_copy(update={"uplifts": [Uplift(percent=50, province="Xinjiang")]})
    [event] = decide_publish(ok, PolicyState(), date(2025, 6, 1))
    assert event.version == 1 and event.uplifts[0].percent == 50


def test_policy_versions_increase():
    cmd = PublishFundingPolicy(
        policy_id="p", effective_from=date(2025, 1, 1), training_subsidies=STANDARD_RATES,
        living_subsidy=LivingSubsidy(meals_fen_per_day=6000, transport_fen_per_day=2000),
        attendance_threshold_percent=80)
    from services.funding.domain.policy import evolve
    state = PolicyState()
    for expected in (1, 2, 3):
        [event] = decide_publish(cmd, state, date(2025, 1, 1))
        assert event.version == expected
        state = evolve(state, event)


def test_policy_in_force_on_the_first_session_applies():
    w = World()
    w.policy(version=1, effective_from=date(2025, 1, 1))
    w.policy(version=2, effective_from=date(2025, 8, 1),
             training=[*STANDARD_RATES[:1], STANDARD_RATES[1].model_copy(
                 update={"amount_fen": yuan(1800)}), *STANDARD_RATES[2:]], meals=70)
    w.body()
    # starts 24 July (v1) and ends in August: v1 applies for the whole class
    w.run_class("july", FUKANG_DAYS, {"w-1": 15}, site=PUTUO)
    w.run_class("august", days(date(2025, 8, 4), date(2025, 8, 8)), {"w-2": 5}, site=PUTUO)
    w.certify("w-1", "july")
    w.certify("w-2", "august")
    ledger = build_ledger(w.records)
    assert amounts(ledger, "training_subsidy") == {"w-1": yuan(1500), "w-2": yuan(1800)}
    assert amounts(ledger, "living_subsidy") == {"w-1": yuan(15 * 80), "w-2": yuan(5 * 90)}
    assert {x.worker_id: x.policy_version for x in ledger.lines} == {"w-1": 1, "w-2": 2}


def test_no_policy_in_force_means_nothing_is_due_yet_then_due_when_published():
    w = World()
    w.body()
    w.run_class("c", FUKANG_DAYS, {"w": 15})
    w.certify("w", "c")
    assert build_ledger(w.records).lines == ()
    w.policy(effective_from=date(2025, 7, 1))
    assert amounts(build_ledger(w.records), "training_subsidy") == {"w": yuan(1500)}


def test_threshold_comes_from_the_policy():
    w = World()
    w.policy(threshold=60)
    w.body()
    w.run_class("c", FUKANG_DAYS, {"w-9": 9, "w-8": 8})  # 60% and 53%
    w.certify("w-9", "c")
    w.certify("w-8", "c")
    assert amounts(build_ledger(w.records), "training_subsidy") == {
        "w-9": yuan(1500)}


def test_certificate_in_another_occupation_does_not_count():
    w = World()
    w.policy()
    w.body()
    w.run_class("c", FUKANG_DAYS, {"w": 15})
    w.certify("w", "c", occupation=CROP_PROTECTION)
    assert amounts(build_ledger(w.records), "training_subsidy") == {}


def test_the_best_level_certified_counts():
    w = World()
    w.policy()
    w.body()
    w.run_class("c", FUKANG_DAYS, {"w": 15})
    w.certify("w", "c", level=5)
    w.certify("w", "c", level=4)
    ledger = build_ledger(w.records)
    assert amounts(ledger, "training_subsidy")["w"] == yuan(1500)
    # level 5 fell due first (1,000), the level 4 certificate then added 500
    lines = [x for x in ledger.lines if x.rule == "training_subsidy"]
    assert [(x.kind, x.amount_fen) for x in lines] == [("due", yuan(1000)),
                                                       ("adjustment", yuan(500))]
    assert lines[1].corrects_line_id == lines[0].line_id


def test_certificate_must_come_from_an_independent_body():
    w = World()
    w.policy()
    w.body("body-own", affiliations=["inst-1"])  # affiliated with the trainer
    w.body("body-xj")
    w.run_class("c", FUKANG_DAYS, {"w-1": 15, "w-2": 15})
    w.certify("w-1", "c", body_id="body-own")
    w.certify("w-2", "c", body_id="body-xj")
    assert amounts(build_ledger(w.records), "training_subsidy") == {"w-2": yuan(1500)}


def test_an_assessor_who_taught_the_class_makes_the_certificate_ineligible():
    w = World()
    w.policy()
    w.body()
    w.run_class("c", FUKANG_DAYS, {"w-1": 15}, trainers=["trainer-1"])
    w.assessment("assessment-1", "c", assessors=["trainer-1"])
    w.certify("w-1", "c", assessment_id="assessment-1")
    assert amounts(build_ledger(w.records), "training_subsidy") == {}


def test_an_unregistered_body_does_not_qualify():
    w = World()
    w.policy()
    w.run_class("c", FUKANG_DAYS, {"w": 15})
    w.certify("w", "c", body_id="body-unknown")
    assert amounts(build_ledger(w.records), "training_subsidy") == {}


def test_a_certificate_from_before_the_training_does_not_count():
    w = World()
    w.policy()
    w.body()
    w.run_class("c", FUKANG_DAYS, {"w": 15})
    w.certify("w", "c", on=date(2025, 7, 1))
    assert amounts(build_ledger(w.records), "training_subsidy") == {}


def test_no_living_subsidy_before_the_class_completes():
    w = World()
    w.policy()
    w.schedule("c", FUKANG_DAYS)
    for day in FUKANG_DAYS:
        w.attend("c", "w", day)
    assert build_ledger(w.records).lines == ()


def test_zero_minute_records_are_not_attended_days():
    w = World()
    w.policy()
    w.schedule("c", FUKANG_DAYS, at=w.on(FUKANG_DAYS[0], 1))
    w.attend("c", "w", FUKANG_DAYS[0], minutes=0)
    w.attend("c", "w", FUKANG_DAYS[1], minutes=240)
    w.complete("c", FUKANG_DAYS, ["w"])
    assert amounts(build_ledger(w.records), "living_subsidy") == {"w": yuan(80)}


def test_one_training_subsidy_per_worker_occupation_level():
    w = World()
    w.policy()
    w.body()
    w.run_class("first", FUKANG_DAYS, {"w": 15})
    w.certify("w", "first", level=4)
    later = days(date(2025, 9, 1), date(2025, 9, 10))
    w.run_class("again", later, {"w": 10}, site=PUTUO)
    w.certify("w", "again", level=4, on=date(2025, 9, 12))
    w.run_class("up", days(date(2025, 10, 1), date(2025, 10, 10)), {"w": 10}, site=PUTUO,
                level=3)
    w.certify("w", "up", level=3, on=date(2025, 10, 12))
    ledger = build_ledger(w.records)
    training = {x.class_id: x.amount_fen for x in ledger.lines if x.rule == "training_subsidy"}
    # level 4 once (2,250 in Fukang), never again at level 4; level 3 is a new level: 2,000
    assert training == {"first": yuan(1500), "up": yuan(2000)}
    # the second level-4 class still pays the living subsidy
    assert ledger.total_fen(class_id="again", rule="living_subsidy") == yuan(10 * 80)


def test_at_most_n_subsidised_trainings_per_worker_per_calendar_year():
    w = World()
    w.policy(per_year=1)
    w.body()
    w.run_class("y25-a", FUKANG_DAYS, {"w": 15})
    w.run_class("y25-b", days(date(2025, 9, 1), date(2025, 9, 5)), {"w": 5},
                occupation=CROP_PROTECTION)
    w.certify("w", "y25-b", occupation=CROP_PROTECTION, on=date(2025, 9, 6))
    w.run_class("y26", days(date(2026, 3, 2), date(2026, 3, 6)), {"w": 5},
                occupation=CROP_PROTECTION)
    ledger = build_ledger(w.records)
    by_class = {}
    for x in ledger.lines:
        by_class[x.class_id] = by_class.get(x.class_id, 0) + x.amount_fen
    # one training a year: the first 2025 class (living 1,200) and the 2026 class (living 400)
    assert by_class == {"y25-a": yuan(1200), "y26": yuan(400)}


def test_the_article_scale_149_trainees():
    """149 workers in the Fukang class: 140 met the threshold and were certified at level 4,
    9 attended 10 of 15 sessions and were not certified."""
    w = World()
    w.policy(uplifts=fukang_uplift())
    w.body()
    attendance = {f"w-{i:03d}": 15 for i in range(140)}
    attendance |= {f"w-{i:03d}": 10 for i in range(140, 149)}
    w.run_class("fukang", FUKANG_DAYS, attendance)
    for i in range(140):
        w.certify(f"w-{i:03d}", "fukang")
    ledger = build_ledger(w.records)
    # training: 140 x 2,250 = 315,000 yuan; living: 140 x 15 x 80 + 9 x 10 x 80 = 175,200
    assert ledger.total_fen(rule="training_subsidy") == yuan(315_000)
    assert ledger.total_fen(rule="living_subsidy") == yuan(175_200)
    assert len(ledger.lines) == 140 + 149
