"""The worker aggregate: registration, intake surveys, enrolments and withdrawals.

One stream per worker, so the per-worker rules (not enrolled twice, N subsidised trainings a
year) are checked against a consistent history under optimistic concurrency. Class capacity
spans workers and is checked against enrolment's class view, passed in.

``WORKER`` is the aggregate as the kit's command pipeline runs it; what each command is given
besides its state (ids, today, looked-up views) is one of the ``For...`` dataclasses below.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date

from services.enrolment.domain.commands import Enrol, RecordIntakeSurvey, RegisterWorker, Withdraw
from services.enrolment.domain.views import Certificate, ClassView
from shared.contracts.common import WorkSite
from shared.contracts.enrolment import (
    EnrolmentWithdrawn,
    IntakeSurveyRecorded,
    WorkerEnrolled,
    WorkerRegistered,
)
from shared.runtime.commands import Decider
from shared.runtime.errors import DomainError

WorkerEvent = WorkerRegistered | IntakeSurveyRecorded | WorkerEnrolled | EnrolmentWithdrawn
WorkerCommand = RegisterWorker | RecordIntakeSurvey | Enrol | Withdraw

DEFAULT_SUBSIDISED_TRAININGS_PER_YEAR = 1


@dataclass(frozen=True, slots=True)
class EnrolmentRecord:
    enrolment_id: str
    class_id: str
    occupation_code: str
    target_level: int
    enrolled_on: date
    withdrawn: bool = False


@dataclass(frozen=True, slots=True)
class Worker:
    worker_id: str | None = None
    enrolments: Mapping[str, EnrolmentRecord] = field(default_factory=dict)
    survey_ids: tuple[str, ...] = ()

    @property
    def registered(self) -> bool:
        return self.worker_id is not None

    def live_enrolments(self) -> list[EnrolmentRecord]:
        return [e for e in self.enrolments.values() if not e.withdrawn]


def refuse_duplicate(existing_worker_id: str | None, *, existing_visible: bool = False) -> None:
    """Registering looks the national ID up; a hit means this person is already registered.

    The refusal names the existing worker only when ``existing_visible``: the registering
    organisation may read that worker's record anyway (a station at the worker's site, which
    then carries on with the worker it has). Anyone else learns only that the number is taken,
    so trying ID numbers cannot map them to other stations' pseudonymous workers."""
    if existing_worker_id is None:
        return
    message = "A worker with this national ID number is already registered."
    if existing_visible:
        raise DomainError("worker_already_registered", message, worker_id=existing_worker_id)
    raise DomainError("worker_already_registered", message)


def register(cmd: RegisterWorker, state: Worker, *, worker_id: str,
             existing_worker_id: str | None, existing_visible: bool = False
             ) -> list[WorkerEvent]:
    refuse_duplicate(existing_worker_id, existing_visible=existing_visible)
    if state.registered:
        raise DomainError("worker_already_registered", "This worker is already registered.",
                          worker_id=state.worker_id)
    identity = cmd.identity
    # Only what funding and the statistics need; name, number and phone stay in enrolment.
    return [WorkerRegistered(
        worker_id=worker_id, gender=identity.gender, birth_year=identity.birth_date.year,
        hometown_county=cmd.hometown_county, work_site=cmd.work_site,
    )]


def record_survey(cmd: RecordIntakeSurvey, state: Worker, *, survey_id: str,
                  known_occupations: Collection[str], today: date) -> list[WorkerEvent]:
    _require_registered(state, cmd.worker_id)
    unknown = sorted(set(cmd.desired_occupations) - set(known_occupations))
    if unknown:
        raise DomainError("occupation_not_in_catalogue",
                          f"Not in the occupation catalogue: {', '.join(unknown)}.",
                          occupations=unknown)
    return [IntakeSurveyRecorded(
        survey_id=survey_id, worker_id=cmd.worker_id,
        desired_occupations=list(dict.fromkeys(cmd.desired_occupations)),
        availability=list(dict.fromkeys(cmd.availability)),
        earliest_start=cmd.earliest_start, surveyed_on=today,
        current_wage_band=cmd.current_wage_band,
    )]


def enrol(cmd: Enrol, state: Worker, *, class_view: ClassView | None,
          certificates: Collection[Certificate], enrolment_id: str, today: date,
          subsidised_per_year: int = DEFAULT_SUBSIDISED_TRAININGS_PER_YEAR
          ) -> list[WorkerEvent]:
    _require_registered(state, cmd.worker_id)
    if class_view is None:
        raise DomainError("class_unknown", "No class is known with this id.",
                          class_id=cmd.class_id)
    if not class_view.approved:
        raise DomainError("class_not_approved", "The HR bureau has not approved this class yet.",
                          class_id=cmd.class_id)
    if not class_view.open:
        raise DomainError("class_not_open", "This class is completed and no longer enrols.",
                          class_id=cmd.class_id)
    if any(e.class_id == cmd.class_id for e in state.live_enrolments()):
        raise DomainError("already_enrolled", "The worker is already enrolled in this class.",
                          class_id=cmd.class_id)
    if class_view.places_left == 0:
        raise DomainError("class_full", f"The class is full ({class_view.capacity} places).",
                          class_id=cmd.class_id, capacity=class_view.capacity)
    # Every class in the programme is bought by the government, so every live enrolment is a
    # subsidised training; the year is the calendar year of enrolment.
    this_year = [e for e in state.live_enrolments() if e.enrolled_on.year == today.year]
    if len(this_year) >= subsidised_per_year:
        raise DomainError("subsidised_training_limit_reached",
                          f"The worker already has {len(this_year)} subsidised training(s) in "
                          f"{today.year}; the limit is {subsidised_per_year}.",
                          year=today.year, limit=subsidised_per_year)
    held = Certificate(class_view.occupation_code, class_view.target_level)
    if held in certificates:
        raise DomainError("already_certified",
                          f"The worker already holds a level {held.level} certificate in "
                          f"{held.occupation_code}.",
                          occupation_code=held.occupation_code, level=held.level)
    return [WorkerEnrolled(
        enrolment_id=enrolment_id, worker_id=cmd.worker_id, class_id=cmd.class_id,
        occupation_code=class_view.occupation_code, target_level=class_view.target_level,
        enrolled_on=today,
    )]


def withdraw(cmd: Withdraw, state: Worker, *, worker_id: str, class_view: ClassView | None,
             today: date) -> list[WorkerEvent]:
    """``worker_id``: whose enrolment ``cmd`` names (looked up by its id)."""
    _require_registered(state, worker_id)
    record = state.enrolments.get(cmd.enrolment_id)
    if record is None:
        raise DomainError("enrolment_unknown", "The worker has no enrolment with this id.",
                          enrolment_id=cmd.enrolment_id)
    if record.withdrawn:
        raise DomainError("enrolment_already_withdrawn", "This enrolment is already withdrawn.",
                          enrolment_id=cmd.enrolment_id)
    # After completion the outcome is a fact funding pays from; withdrawing would rewrite it.
    if class_view is not None and class_view.completed:
        raise DomainError("class_already_completed",
                          "The class is completed; its enrolments can no longer be withdrawn.",
                          class_id=record.class_id)
    return [EnrolmentWithdrawn(
        enrolment_id=cmd.enrolment_id, worker_id=worker_id, class_id=record.class_id,
        reason=cmd.reason, withdrawn_on=today,
    )]


# -- what each command is given besides the worker's state ------------------------------------

@dataclass(frozen=True, slots=True)
class ForRegistration:
    """The new worker's id, the worker already registered under the same national ID number
    (if any), and whether the registering station may see that worker's record."""

    worker_id: str
    existing_worker_id: str | None
    existing_visible: bool = False


@dataclass(frozen=True, slots=True)
class ForSurvey:
    """``site``: the worker's work site, which the acting station must cover."""

    survey_id: str
    site: WorkSite
    known_occupations: frozenset[str]
    today: date


@dataclass(frozen=True, slots=True)
class ForEnrolment:
    """The class as enrolment sees it (``None``: unknown), the worker's live certificates."""

    enrolment_id: str
    site: WorkSite
    class_view: ClassView | None
    certificates: tuple[Certificate, ...]
    today: date
    subsidised_per_year: int = DEFAULT_SUBSIDISED_TRAININGS_PER_YEAR


@dataclass(frozen=True, slots=True)
class ForWithdrawal:
    """Whose enrolment it is, their work site, and the enrolment's class."""

    worker_id: str
    site: WorkSite
    class_view: ClassView | None
    today: date


Given = ForRegistration | ForSurvey | ForEnrolment | ForWithdrawal


def decide(command: WorkerCommand, state: Worker, given: Given) -> list[WorkerEvent]:
    """Route a command to its rules with what it was given; a command given the wrong facts
    is a programming error (``TypeError``), not a refusal."""
    match command, given:
        case RegisterWorker(), ForRegistration():
            return register(command, state, worker_id=given.worker_id,
                            existing_worker_id=given.existing_worker_id,
                            existing_visible=given.existing_visible)
        case RecordIntakeSurvey(), ForSurvey():
            return record_survey(command, state, survey_id=given.survey_id,
                                 known_occupations=given.known_occupations, today=given.today)
        case Enrol(), ForEnrolment():
            return enrol(command, state, class_view=given.class_view,
                         certificates=given.certificates, enrolment_id=given.enrolment_id,
                         today=given.today, subsidised_per_year=given.subsidised_per_year)
        case Withdraw(), ForWithdrawal():
            return withdraw(command, state, worker_id=given.worker_id,
                            class_view=given.class_view, today=given.today)
    raise TypeError(f"not a worker command with its facts: {command!r}, {given!r}")


def evolve(state: Worker, event: WorkerEvent) -> Worker:
    match event:
        case WorkerRegistered():
            return Worker(worker_id=event.worker_id)
        case IntakeSurveyRecorded():
            return replace(state, survey_ids=(*state.survey_ids, event.survey_id))
        case WorkerEnrolled():
            record = EnrolmentRecord(event.enrolment_id, event.class_id, event.occupation_code,
                                     event.target_level, event.enrolled_on)
            return replace(state, enrolments={**state.enrolments, event.enrolment_id: record})
        case EnrolmentWithdrawn():
            withdrawn = replace(state.enrolments[event.enrolment_id], withdrawn=True)
            return replace(state, enrolments={**state.enrolments, event.enrolment_id: withdrawn})
    return state


def _require_registered(state: Worker, worker_id: str) -> None:
    if not state.registered:
        raise DomainError("worker_unknown", "No worker is registered with this id.",
                          worker_id=worker_id)


def worker_stream(worker_id: str) -> str:
    return f"worker-{worker_id}"


WORKER: Decider[Worker] = Decider(stream=worker_stream, initial=Worker(), evolve=evolve,
                                  decide=decide)
