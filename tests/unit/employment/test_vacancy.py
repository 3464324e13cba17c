"""A vacancy's rules: posting, referral with consent, the employer's answer, follow-ups."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import date

import pytest

from services.employment.domain.calendar import add_months
from services.employment.domain.vacancy import (
    VACANCY,
    ForPosting,
    ForReferral,
    PostVacancy,
    RecordEmployerAnswer,
    RecordFollowUp,
    ReferWorker,
    Today,
    Vacancy,
    WorkerFacts,
)
from shared.aggregate import fold_data
from shared.contracts import Event
from shared.contracts.employment import VacancyClosed, WorkerPlaced
from shared.runtime.errors import DomainError

TODAY = date(2025, 9, 1)
SITE = {"province": "新疆", "city": "阜康市", "site_name": "阜康工业园"}
POST = PostVacancy(vacancy_id="v-1", employer="阜康某能源公司", site=SITE,
                   occupation_code="electrician", minimum_level=5, headcount=1,
                   wage_min_fen=500_000, wage_max_fen=650_000, shift_pattern="day",
                   starts_on=date(2025, 9, 15), closes_on=date(2025, 9, 30))
QUALIFIED = WorkerFacts(certified_level=5, placed_elsewhere=False)


def state_after(*events: Sequence[Event]) -> Vacancy:
    flat = [e for batch in events for e in batch]
    return fold_data(((e.ce_type(), e.model_dump(mode="json")) for e in flat), VACANCY.evolve,
                     VACANCY.initial)


def posted() -> list[Event]:
    return list(VACANCY.decide(POST, VACANCY.initial, ForPosting(TODAY)))


def refer(state: Vacancy, worker: str = "w-1", facts: WorkerFacts = QUALIFIED,
          referral: str = "r-1") -> list[Event]:
    command = ReferWorker(vacancy_id="v-1", worker_id=worker, consent_method="signed_form",
                          consented_on=TODAY)
    return list(VACANCY.decide(command, state, ForReferral(TODAY, referral, facts)))


def hire(state: Vacancy, referral: str = "r-1") -> list[Event]:
    command = RecordEmployerAnswer(vacancy_id="v-1", referral_id=referral, outcome="hired",
                                   monthly_wage_fen=600_000, starts_on=date(2025, 9, 15))
    return list(VACANCY.decide(command, state, Today(TODAY)))


def refusal(call: object) -> str:
    with pytest.raises(DomainError) as refused:
        call()  # type: ignore[operator]
    return refused.value.code


def test_a_referral_needs_the_level_asked_and_a_worker_not_placed_elsewhere() -> None:
    state = state_after(posted())
    assert refusal(lambda: refer(state, facts=WorkerFacts(None, False))) == \
        "worker_not_qualified"
    assert refusal(lambda: refer(state, facts=WorkerFacts(5, True))) == "worker_already_placed"
    [referred] = refer(state)
    assert (referred.worker_id, referred.level, referred.consent_method) == \
        ("w-1", 5, "signed_form")
    again = state_after(posted(), [referred])
    assert refusal(lambda: refer(again, referral="r-2")) == "worker_already_referred"


def test_the_last_hire_fills_the_vacancy_and_it_takes_no_more_referrals() -> None:
    first = state_after(posted())
    referred = refer(first) + refer(state_after(posted(), refer(first)), worker="w-2",
                                    referral="r-2")
    state = state_after(posted(), referred)
    hired = hire(state)
    assert [type(e) for e in hired] == [WorkerPlaced, VacancyClosed]
    assert hired[1].ended == "filled"
    filled = state_after(posted(), referred, hired)
    assert refusal(lambda: hire(filled, "r-2")) == "vacancy_filled"
    assert refusal(lambda: refer(filled, worker="w-3", referral="r-3")) == "vacancy_not_open"


def test_a_follow_up_is_recorded_once_when_due_and_none_after_the_worker_left() -> None:
    state = state_after(posted(), refer(state_after(posted())))
    placed = state_after(posted(), refer(state_after(posted())), hire(state))

    def follow(at: date, month: int, employed: bool, on: Vacancy = placed) -> list[Event]:
        command = RecordFollowUp(vacancy_id="v-1", referral_id="r-1", month=month,
                                 still_employed=employed,
                                 monthly_wage_fen=620_000 if employed else None)
        return list(VACANCY.decide(command, on, Today(at)))

    assert refusal(lambda: follow(date(2025, 10, 14), 1, True)) == "follow_up_not_due"
    one = follow(date(2025, 10, 15), 1, True)
    after_one = state_after(posted(), refer(state_after(posted())), hire(state), one)
    assert refusal(lambda: follow(date(2025, 10, 20), 1, True, after_one)) == \
        "follow_up_already_recorded"
    left = follow(date(2025, 12, 15), 3, False, after_one)
    gone = state_after(posted(), refer(state_after(posted())), hire(state), one, left)
    assert refusal(lambda: follow(date(2026, 3, 15), 6, True, gone)) == "placement_ended"


def test_a_month_later_is_the_months_last_day_when_the_day_does_not_exist() -> None:
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 11, 30), 3) == date(2025, 2, 28)
    assert add_months(date(2025, 9, 15), 6) == date(2026, 3, 15)


def test_a_state_built_upon_is_left_as_it_was() -> None:
    """Commands share a kept state (shared/runtime/states.py): folding later events onto it,
    and deciding on it, must make new states and leave it as it was."""
    base = state_after(posted(), refer(state_after(posted())))
    before = copy.deepcopy(base)
    placed = state_after(posted(), refer(state_after(posted())), hire(base))
    later = fold_data(((e.ce_type(), e.model_dump(mode="json")) for e in hire(base)),
                      VACANCY.evolve, base)
    refer(base, worker="w-2", referral="r-2")
    assert later == placed != base
    assert base == before and base.referrals["r-1"].status == "referred"
