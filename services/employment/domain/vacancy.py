"""A vacancy and its referrals, in one stream (``vacancy-{id}``): whether it takes referrals,
how many it hired against its headcount, and each referral's course (referred, declined,
placed, its follow-ups).

Everything decided here is decided on the vacancy's own stream and the facts a command is
given (today, the worker's certified level and whether they are placed elsewhere), so two
answers for its last place race for the stream and only one hires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.employment.domain.calendar import FOLLOW_UP_MONTHS, follow_up_due
from shared.contracts.bounds import Id, Name, NewId, Text
from shared.contracts.common import OccupationCode, SkillLevel, WorkSite
from shared.contracts.employment import (
    MAX_HEADCOUNT,
    MAX_MONTHLY_WAGE_FEN,
    ConsentMethod,
    FollowUpMonth,
    FollowUpRecorded,
    ReferralDeclined,
    ShiftPattern,
    VacancyClosed,
    VacancyPosted,
    WorkerPlaced,
    WorkerReferred,
)
from shared.runtime.commands import Decider
from shared.runtime.errors import DomainError

VacancyEvent = (VacancyPosted | VacancyClosed | WorkerReferred | ReferralDeclined | WorkerPlaced
                | FollowUpRecorded)

MAX_REFERRALS_PER_VACANCY = 2000
"""Referrals one vacancy holds (declined ones included): bounds its stream, which the first
command on the vacancy after a service starts reads whole (later ones build on the state kept
from the last, shared/runtime/states.py)."""

# A placement's first day, within the dates its follow-ups (up to 6 months on) can be on.
EARLIEST_START = date(2000, 1, 1)
LATEST_START = date(2100, 12, 31)

Wage = Field(ge=0, le=MAX_MONTHLY_WAGE_FEN, description="Monthly wage in fen (分)")


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PostVacancy(_Command):
    vacancy_id: NewId = Field(pattern=r"^[^/]+$")
    employer: Name = Field(description="The employing organisation's name (no person's name)")
    site: WorkSite
    occupation_code: OccupationCode
    minimum_level: SkillLevel
    headcount: int = Field(ge=1, le=MAX_HEADCOUNT)
    wage_min_fen: int = Wage
    wage_max_fen: int = Wage
    shift_pattern: ShiftPattern
    starts_on: date
    closes_on: date

    @model_validator(mode="after")
    def _ranges(self) -> PostVacancy:
        if self.wage_min_fen > self.wage_max_fen:
            raise ValueError("wage_min_fen is above wage_max_fen")
        return self


class CloseVacancy(_Command):
    vacancy_id: Id
    reason: Text = Field(min_length=1)


class ReferWorker(_Command):
    vacancy_id: Id
    worker_id: Id
    consent_method: ConsentMethod = Field(description="How the worker agreed to be referred")
    consented_on: date


class RecordEmployerAnswer(_Command):
    vacancy_id: Id
    referral_id: Id
    outcome: Literal["hired", "declined"]
    monthly_wage_fen: int | None = Field(None, ge=0, le=MAX_MONTHLY_WAGE_FEN)
    starts_on: date | None = Field(None, ge=EARLIEST_START, le=LATEST_START)
    reason: Text | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _complete(self) -> RecordEmployerAnswer:
        if self.outcome == "hired" and (self.monthly_wage_fen is None or self.starts_on is None):
            raise ValueError("a hire needs monthly_wage_fen and starts_on")
        if self.outcome == "declined" and self.reason is None:
            raise ValueError("a decline needs its reason")
        return self


class RecordFollowUp(_Command):
    vacancy_id: Id
    referral_id: Id
    month: FollowUpMonth
    still_employed: bool
    monthly_wage_fen: int | None = Field(None, ge=0, le=MAX_MONTHLY_WAGE_FEN)

    @model_validator(mode="after")
    def _wage_only_when_employed(self) -> RecordFollowUp:
        if not self.still_employed and self.monthly_wage_fen is not None:
            raise ValueError("a wage is recorded only while still employed")
        return self


ReferralStatus = Literal["referred", "declined", "placed", "left"]


@dataclass(frozen=True, slots=True)
class Referral:
    referral_id: str
    worker_id: str
    occupation_code: str
    level: int
    status: ReferralStatus = "referred"
    starts_on: date | None = None
    follow_ups: Mapping[int, bool] = field(default_factory=dict)  # month -> still employed


@dataclass(frozen=True, slots=True)
class Vacancy:
    posted: VacancyPosted | None = None
    ended: str | None = None
    hired: int = 0
    referrals: Mapping[str, Referral] = field(default_factory=dict)

    def open_on(self, today: date) -> bool:
        return (self.posted is not None and self.ended is None and self.hired <
                self.posted.headcount and today <= self.posted.closes_on)


@dataclass(frozen=True, slots=True)
class WorkerFacts:
    """What a referral is given about the worker, from employment's read models."""

    certified_level: int | None  # best live level in the vacancy's occupation
    placed_elsewhere: bool  # placed by another referral and not recorded as having left


@dataclass(frozen=True, slots=True)
class ForPosting:
    today: date


@dataclass(frozen=True, slots=True)
class ForReferral:
    today: date
    referral_id: str
    worker: WorkerFacts


@dataclass(frozen=True, slots=True)
class Today:
    today: date


def _unknown(vacancy_id: str) -> DomainError:
    return DomainError("vacancy_unknown", "No vacancy is posted with this id.",
                       vacancy_id=vacancy_id)


def post(cmd: PostVacancy, state: Vacancy, today: date) -> list[VacancyEvent]:
    if state.posted is not None:
        raise DomainError("vacancy_already_posted", "A vacancy with this id is already posted.",
                          vacancy_id=cmd.vacancy_id)
    if cmd.closes_on < today:
        raise DomainError("vacancy_closes_in_the_past",
                          "A vacancy must close today or later.", closes_on=str(cmd.closes_on))
    return [VacancyPosted(**cmd.model_dump(), posted_on=today)]


def close(cmd: CloseVacancy, state: Vacancy, today: date) -> list[VacancyEvent]:
    if state.posted is None:
        raise _unknown(cmd.vacancy_id)
    if state.ended is not None:
        raise DomainError("vacancy_already_closed", "The vacancy is already closed.",
                          vacancy_id=cmd.vacancy_id, ended=state.ended)
    return [VacancyClosed(vacancy_id=cmd.vacancy_id, ended="closed", reason=cmd.reason,
                          closed_on=today)]


def refer(cmd: ReferWorker, state: Vacancy, given: ForReferral) -> list[VacancyEvent]:
    posted = state.posted
    if posted is None:
        raise _unknown(cmd.vacancy_id)
    if not state.open_on(given.today):
        raise DomainError("vacancy_not_open",
                          "The vacancy is closed, filled or past its closing date.",
                          vacancy_id=cmd.vacancy_id)
    if cmd.consented_on > given.today:
        raise DomainError("consent_in_the_future", "The worker's consent cannot be dated after "
                          "today.", consented_on=str(cmd.consented_on))
    level = given.worker.certified_level
    if level is None or level > posted.minimum_level:
        raise DomainError("worker_not_qualified",
                          f"The worker holds no live certificate in {posted.occupation_code} at "
                          f"level {posted.minimum_level} or higher.",
                          worker_id=cmd.worker_id, occupation_code=posted.occupation_code,
                          minimum_level=posted.minimum_level)
    if given.worker.placed_elsewhere:
        raise DomainError("worker_already_placed", "The worker is placed in another job; a "
                          "follow-up must record that they left before a new referral.",
                          worker_id=cmd.worker_id)
    current = [r for r in state.referrals.values() if r.worker_id == cmd.worker_id
               and r.status in ("referred", "placed")]
    if current:
        raise DomainError("worker_already_referred", "The worker is already referred to this "
                          "vacancy.", referral_id=current[0].referral_id)
    if len(state.referrals) >= MAX_REFERRALS_PER_VACANCY:
        raise DomainError("too_many_referrals", "The vacancy holds as many referrals as it "
                          "may; post another.", limit=MAX_REFERRALS_PER_VACANCY)
    return [WorkerReferred(referral_id=given.referral_id, vacancy_id=cmd.vacancy_id,
                           worker_id=cmd.worker_id, employer=posted.employer,
                           site=posted.site, occupation_code=posted.occupation_code,
                           level=level, consent_method=cmd.consent_method,
                           consented_on=cmd.consented_on, referred_on=given.today)]


def _referral(state: Vacancy, vacancy_id: str, referral_id: str) -> Referral:
    if state.posted is None:
        raise _unknown(vacancy_id)
    referral = state.referrals.get(referral_id)
    if referral is None:
        raise DomainError("referral_unknown", "The vacancy has no referral with this id.",
                          referral_id=referral_id)
    return referral


def answer(cmd: RecordEmployerAnswer, state: Vacancy, today: date) -> list[VacancyEvent]:
    referral = _referral(state, cmd.vacancy_id, cmd.referral_id)
    posted = state.posted
    assert posted is not None
    if referral.status != "referred":
        raise DomainError("referral_already_answered", "The employer's answer to this referral "
                          "is already recorded.", status=referral.status)
    if cmd.outcome == "declined":
        assert cmd.reason is not None
        return [ReferralDeclined(referral_id=cmd.referral_id, vacancy_id=cmd.vacancy_id,
                                 worker_id=referral.worker_id, reason=cmd.reason,
                                 declined_on=today)]
    if state.hired >= posted.headcount:
        raise DomainError("vacancy_filled", "The vacancy's headcount is already hired.",
                          headcount=posted.headcount)
    assert cmd.monthly_wage_fen is not None and cmd.starts_on is not None
    events: list[VacancyEvent] = [WorkerPlaced(
        referral_id=cmd.referral_id, vacancy_id=cmd.vacancy_id, worker_id=referral.worker_id,
        employer=posted.employer, occupation_code=referral.occupation_code,
        level=referral.level, site=posted.site,
        monthly_wage_fen=cmd.monthly_wage_fen, starts_on=cmd.starts_on, placed_on=today)]
    if state.hired + 1 == posted.headcount and state.ended is None:
        events.append(VacancyClosed(vacancy_id=cmd.vacancy_id, ended="filled", closed_on=today))
    return events


def follow_up(cmd: RecordFollowUp, state: Vacancy, today: date) -> list[VacancyEvent]:
    referral = _referral(state, cmd.vacancy_id, cmd.referral_id)
    if referral.status not in ("placed", "left") or referral.starts_on is None:
        raise DomainError("referral_not_placed", "Only a placement is followed up.",
                          status=referral.status)
    if cmd.month in referral.follow_ups:
        raise DomainError("follow_up_already_recorded", "This follow-up is already recorded.",
                          month=cmd.month)
    if referral.status == "left":
        raise DomainError("placement_ended", "An earlier follow-up recorded that the worker "
                          "left; there is nothing more to follow up.")
    due = follow_up_due(referral.starts_on, cmd.month)
    if today < due:
        raise DomainError("follow_up_not_due", f"The {cmd.month}-month follow-up is due on "
                          f"{due.isoformat()}.", due_on=due.isoformat())
    return [FollowUpRecorded(referral_id=cmd.referral_id, vacancy_id=cmd.vacancy_id,
                             worker_id=referral.worker_id, month=cmd.month,
                             still_employed=cmd.still_employed,
                             monthly_wage_fen=cmd.monthly_wage_fen, recorded_on=today)]


def decide(command: object, state: Vacancy, given: object) -> list[VacancyEvent]:
    match command, given:
        case PostVacancy(), ForPosting():
            return post(command, state, given.today)
        case CloseVacancy(), Today():
            return close(command, state, given.today)
        case ReferWorker(), ForReferral():
            return refer(command, state, given)
        case RecordEmployerAnswer(), Today():
            return answer(command, state, given.today)
        case RecordFollowUp(), Today():
            return follow_up(command, state, given.today)
    raise TypeError(f"not a vacancy command: {command!r}")


def _with(state: Vacancy, referral: Referral) -> Vacancy:
    return replace(state, referrals={**state.referrals, referral.referral_id: referral})


def evolve(state: Vacancy, event: VacancyEvent) -> Vacancy:
    match event:
        case VacancyPosted():
            return Vacancy(posted=event)
        case VacancyClosed():
            return replace(state, ended=event.ended)
        case WorkerReferred():
            return _with(state, Referral(event.referral_id, event.worker_id,
                                         event.occupation_code, event.level))
        case ReferralDeclined():
            return _with(state, replace(state.referrals[event.referral_id], status="declined"))
        case WorkerPlaced():
            placed = replace(state.referrals[event.referral_id], status="placed",
                             starts_on=event.starts_on)
            return replace(_with(state, placed), hired=state.hired + 1)
        case FollowUpRecorded():
            referral = state.referrals[event.referral_id]
            return _with(state, replace(
                referral, status="placed" if event.still_employed else "left",
                follow_ups={**referral.follow_ups, event.month: event.still_employed}))
    return state


def vacancy_stream(vacancy_id: str) -> str:
    return f"vacancy-{vacancy_id}"


VACANCY: Decider[Vacancy] = Decider(stream=vacancy_stream, initial=Vacancy(), evolve=evolve,
                                    decide=decide)

__all__ = ["FOLLOW_UP_MONTHS", "VACANCY", "Vacancy"]
