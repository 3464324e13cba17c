"""Enrolment's commands as the kit's pipeline runs them (shared/runtime/commands.py): per
command, what it looks up, whose stream it is decided on, who may do it where, what it writes
besides its events, and what it answers.

A liaison station acts only for workers at its own sites: every command's scope is the
worker's work site (the one registered with, or the one the new worker is registered at).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.enrolment import identities, projections
from services.enrolment.api import EnrolmentCreated, SurveyRecorded, WorkerRegisteredResponse
from services.enrolment.domain.commands import Enrol, RecordIntakeSurvey, RegisterWorker, Withdraw
from services.enrolment.domain.worker import (
    WORKER,
    ForEnrolment,
    ForRegistration,
    ForSurvey,
    ForWithdrawal,
    Worker,
)
from services.enrolment.settings import EnrolmentSettings
from services.enrolment.vault import vault_for
from services.training.domain.catalogue import catalogue_by_code
from shared.auth.policy import Action, Organisation, Target, authorise
from shared.calendar import programme_today
from shared.contracts import Event
from shared.runtime.commands import Call, CommandSpec
from shared.runtime.errors import NotFound

# The occupation catalogue is reference data published with the code (see training).
KNOWN_OCCUPATIONS = frozenset(catalogue_by_code())


def _settings(call: Call[Any]) -> EnrolmentSettings:
    settings: EnrolmentSettings = call.ctx.settings
    return settings


# -- registering a worker --------------------------------------------------------------------

async def _for_registration(call: Call[RegisterWorker]) -> ForRegistration:
    index = vault_for(_settings(call)).lookup_index(call.command.national_id)
    # Held until commit: a concurrent registration of the same number waits here, then finds
    # this one's worker below and is refused like any later one.
    await identities.lock_number(call.conn, index)
    existing = await identities.registered_under(call.conn, index)
    return ForRegistration(worker_id=call.new_id(), existing_worker_id=existing,
                           existing_visible=await _may_see(call.conn, call.org, existing))


async def _may_see(conn: asyncpg.Connection, org: Organisation, worker_id: str | None) -> bool:
    """Whether ``org`` may read this worker's record (so may be told its id on a duplicate)."""
    site = await projections.site_of(conn, worker_id) if worker_id is not None else None
    return site is not None and authorise(org, Action.VIEW_WORKER_RECORD,
                                          Target(site=site)).allowed


def _personal_record(command: RegisterWorker) -> dict[str, Any]:
    """Everything said at registration, sealed; only the event's pseudonymous facts go out."""
    return {"name": command.name, "national_id": command.national_id, "mobile": command.mobile,
            "hometown_county": command.hometown_county,
            "hometown_township": command.hometown_township,
            "household_county": command.household_county,
            "work_site": command.work_site.model_dump(), "employer": command.employer,
            "preferred_language": command.preferred_language,
            "contact_window": command.contact_window}


async def _keep_identity(call: Call[RegisterWorker], given: ForRegistration,
                         _: Sequence[Event]) -> None:
    vault = vault_for(_settings(call))
    await identities.keep(call.conn, given.worker_id,
                          vault.lookup_index(call.command.national_id),
                          vault.seal(_personal_record(call.command)))


REGISTER_WORKER: CommandSpec[RegisterWorker, Worker, ForRegistration] = CommandSpec(
    decider=WORKER,
    aggregate_id=lambda _, given: given.worker_id,
    action=Action.REGISTER_WORKER,
    given=_for_registration,
    scope=lambda command, _, __: Target(site=command.work_site),
    record=_keep_identity,
    answer=lambda _, given, __: WorkerRegisteredResponse(worker_id=given.worker_id),
    status_code=201,
)


# -- intake surveys ----------------------------------------------------------------------------

async def _for_survey(call: Call[RecordIntakeSurvey]) -> ForSurvey:
    return ForSurvey(survey_id=call.new_id(),
                     site=await projections.worker_site(call.conn, call.command.worker_id),
                     known_occupations=KNOWN_OCCUPATIONS, today=programme_today())


RECORD_INTAKE_SURVEY: CommandSpec[RecordIntakeSurvey, Worker, ForSurvey] = CommandSpec(
    decider=WORKER,
    aggregate_id=lambda command, _: command.worker_id,
    action=Action.RECORD_INTAKE_SURVEY,
    given=_for_survey,
    scope=lambda _, __, given: Target(site=given.site),
    answer=lambda _, given, __: SurveyRecorded(survey_id=given.survey_id),
    status_code=201,
)


# -- enrolling and withdrawing -----------------------------------------------------------------

async def _for_enrolment(call: Call[Enrol]) -> ForEnrolment:
    command = call.command
    site = await projections.worker_site(call.conn, command.worker_id)
    # Locking the class row until commit serialises enrolments into one class, so two workers
    # can never both take its last place: the second counts the first's enrolment.
    view = await projections.class_view(call.conn, command.class_id, lock=True)
    certificates = await projections.live_certificates(call.conn, command.worker_id)
    return ForEnrolment(enrolment_id=call.new_id(), site=site, class_view=view,
                        certificates=tuple(certificates), today=programme_today(),
                        subsidised_per_year=_settings(call).subsidised_trainings_per_year)


ENROL: CommandSpec[Enrol, Worker, ForEnrolment] = CommandSpec(
    decider=WORKER,
    aggregate_id=lambda command, _: command.worker_id,
    action=Action.ENROL,
    given=_for_enrolment,
    scope=lambda _, __, given: Target(site=given.site),
    answer=lambda _, given, __: EnrolmentCreated(enrolment_id=given.enrolment_id),
    status_code=201,
)


async def _for_withdrawal(call: Call[Withdraw]) -> ForWithdrawal:
    enrolment_id = call.command.enrolment_id
    found = await projections.enrolment(call.conn, enrolment_id)
    if found is None:
        raise NotFound("enrolment_unknown", "No enrolment has this id.",
                       enrolment_id=enrolment_id)
    worker_id, class_id = found
    return ForWithdrawal(worker_id=worker_id,
                         site=await projections.worker_site(call.conn, worker_id),
                         class_view=await projections.class_view(call.conn, class_id),
                         today=programme_today())


WITHDRAW: CommandSpec[Withdraw, Worker, ForWithdrawal] = CommandSpec(
    decider=WORKER,
    aggregate_id=lambda _, given: given.worker_id,
    action=Action.WITHDRAW,
    given=_for_withdrawal,
    scope=lambda _, __, given: Target(site=given.site),
)


COMMANDS: dict[type, CommandSpec[Any, Any, Any]] = {
    RegisterWorker: REGISTER_WORKER,
    RecordIntakeSurvey: RECORD_INTAKE_SURVEY,
    Enrol: ENROL,
    Withdraw: WITHDRAW,
}
