from __future__ import annotations

from datetime import date

import pytest

from services.funding.domain import build_ledger
from services.funding.domain.grants import compare, estimate_grant
from services.funding.domain.notice_calendar import WorkingCalendar, notice_over, notice_period

from .world import ELECTRICIAN, FUKANG, FUKANG_DAYS, PUTUO, World, fukang_uplift, yuan

# 2025 National Day: 1-8 October off; Sunday 28 September and Saturday 11 October worked.
NATIONAL_DAY = WorkingCalendar.of(
    holidays=[date(2025, 10, d) for d in range(1, 9)],
    makeup_working_days=[date(2025, 9, 28), date(2025, 10, 11)],
)


def test_notice_counts_five_working_days_skipping_the_weekend():
    # published Wednesday 20 August: Thu 21, Fri 22, Mon 25, Tue 26, Wed 27
    assert notice_period(date(2025, 8, 20), WorkingCalendar()) == (date(2025, 8, 21),
                                                                   date(2025, 8, 27))
    # published Friday 15 August: Mon 18 .. Fri 22
    assert notice_period(date(2025, 8, 15), WorkingCalendar()) == (date(2025, 8, 18),
                                                                   date(2025, 8, 22))
    # published on a Saturday: the first day is Monday
    assert notice_period(date(2025, 8, 16), WorkingCalendar()) == (date(2025, 8, 18),
                                                                   date(2025, 8, 22))


def test_notice_skips_holidays_and_counts_make_up_working_days():
    # published Friday 26 September: Sun 28 (make-up), Mon 29, Tue 30, [1-8 Oct off],
    # Thu 9, Fri 10
    assert notice_period(date(2025, 9, 26), NATIONAL_DAY) == (date(2025, 9, 28),
                                                              date(2025, 10, 10))
    # published Thursday 9 October: Fri 10, Sat 11 (make-up), Mon 13, Tue 14, Wed 15
    assert notice_period(date(2025, 10, 9), NATIONAL_DAY)[1] == date(2025, 10, 15)
    assert not NATIONAL_DAY.is_working_day(date(2025, 10, 6))  # a Monday, but a holiday


def test_notice_is_over_only_after_its_last_day():
    assert not notice_over(date(2025, 8, 27), date(2025, 8, 27))
    assert notice_over(date(2025, 8, 27), date(2025, 8, 28))
    with pytest.raises(ValueError):
        WorkingCalendar().add_working_days(date(2025, 8, 1), 0)


def test_grant_calculator_for_the_fukang_class():
    w = World()
    ref_record = w.policy(uplifts=fukang_uplift())
    from services.funding.domain.policy import PolicyRef
    policies = [PolicyRef(ref_record.event_id, ref_record.event)]
    est = estimate_grant(policies, occupation=ELECTRICIAN, level=4, site=FUKANG,
                         first_session=date(2025, 7, 24), days=15, trainees=149)
    # 2,250 training + 15 x 80 living = 3,450 yuan a trainee; x 149 = 514,050 yuan
    assert (est.training_subsidy_fen, est.living_subsidy_fen, est.per_trainee_fen) == (
        yuan(2250), yuan(1200), yuan(3450))
    assert est.total_fen == yuan(514_050)
    assert est.uplift_percent == 50 and est.policy_version == 1
    assert estimate_grant(policies, occupation=ELECTRICIAN, level=4, site=PUTUO,
                          first_session=date(2025, 7, 24), days=15).training_subsidy_fen \
        == yuan(1500)
    assert estimate_grant(policies, occupation=ELECTRICIAN, level=4, site=FUKANG,
                          first_session=date(2024, 7, 24), days=15) is None
    assert estimate_grant(policies, occupation="welder", level=4, site=FUKANG,
                          first_session=date(2025, 7, 24), days=15) is None


def test_grant_estimate_next_to_what_is_due_and_paid():
    w = World()
    ref_record = w.policy(uplifts=fukang_uplift())
    w.body()
    w.run_class("c", FUKANG_DAYS, {"w-1": 15, "w-2": 10})
    w.certify("w-1", "c")
    from services.funding.domain.policy import PolicyRef
    est = estimate_grant([PolicyRef(ref_record.event_id, ref_record.event)],
                         occupation=ELECTRICIAN, level=4, site=FUKANG,
                         first_session=FUKANG_DAYS[0], days=15, trainees=2)
    cmp = compare(est, build_ledger(w.records), class_id="c")
    # estimate 6,900; due 2,250 + 1,200 + 800 = 4,250; nothing paid yet
    assert (cmp.estimate.total_fen, cmp.due_fen, cmp.paid_fen) == (yuan(6900), yuan(4250), 0)
    assert compare(est, build_ledger(w.records), class_id="c", worker_id="w-2").due_fen == \
        yuan(800)
