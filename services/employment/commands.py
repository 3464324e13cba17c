"""Employment's commands as the kit's pipeline runs them (shared/runtime/commands.py): each is
decided on its vacancy's stream (``vacancy-{id}``), within the vacancy's site for a station
(the HR bureau may post and close vacancies anywhere), on employment's 'today' (the test clock
in rehearsals). A worker's requests for business guidance are decided on ``guidance-{worker}``
and an employer's training order on ``order-{id}``, within the order's site for a station."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from services.employment import projections
from services.employment.domain.guidance import (
    GUIDANCE,
    ForAnswer,
    ForRequest,
    GiveBusinessGuidance,
    Guidance,
    RequestBusinessGuidance,
)
from services.employment.domain.order import (
    ORDER,
    CancelTrainingOrder,
    ForPlan,
    Order,
    PlaceTrainingOrder,
    PlanTrainingOrder,
)
from services.employment.domain.order import Today as OrderToday
from services.employment.domain.vacancy import (
    VACANCY,
    CloseVacancy,
    ForPosting,
    ForReferral,
    PostVacancy,
    RecordEmployerAnswer,
    RecordFollowUp,
    ReferWorker,
    Today,
    Vacancy,
)
from services.employment.settings import EmploymentSettings
from shared.auth.policy import Action, Target
from shared.contracts import Event
from shared.contracts.employment import BusinessGuidanceRequested, WorkerReferred
from shared.runtime.commands import Call, CommandSpec
from shared.runtime.errors import NotFound


def _today(call: Call[Any]) -> Any:
    settings: EmploymentSettings = call.ctx.settings
    return settings.today()


def _unknown(vacancy_id: str) -> NotFound:
    return NotFound("vacancy_unknown", "No vacancy is posted with this id.",
                    vacancy_id=vacancy_id)


def _at_its_site(command: Any, state: Vacancy, _: Any) -> Target:
    """A vacancy's commands are for its site's station: 404 when no vacancy has this id."""
    if state.posted is None:
        raise _unknown(command.vacancy_id)
    return Target(site=state.posted.site)


async def _for_posting(call: Call[PostVacancy]) -> ForPosting:
    return ForPosting(today=_today(call))


async def _today_only(call: Call[Any]) -> Today:
    return Today(today=_today(call))


async def _for_referral(call: Call[ReferWorker]) -> ForReferral:
    command = call.command
    vacancy = await projections.vacancy(call.conn, command.vacancy_id)
    if vacancy is None:
        raise _unknown(command.vacancy_id)
    facts = await projections.worker_facts(call.conn, command.worker_id,
                                           vacancy["occupation_code"], command.vacancy_id)
    return ForReferral(today=_today(call), referral_id=call.new_id(), worker=facts)


class ReferralCreated(BaseModel):
    referral_id: str


def _referral_created(_: Call[ReferWorker], __: ForReferral,
                      events: Sequence[Event]) -> ReferralCreated:
    [referred] = [e for e in events if isinstance(e, WorkerReferred)]
    return ReferralCreated(referral_id=referred.referral_id)


POST_VACANCY: CommandSpec[PostVacancy, Vacancy, ForPosting] = CommandSpec(
    decider=VACANCY, aggregate_id=lambda command, _: command.vacancy_id,
    action=Action.POST_VACANCY, given=_for_posting,
    scope=lambda command, _, __: Target(site=command.site))

CLOSE_VACANCY: CommandSpec[CloseVacancy, Vacancy, Today] = CommandSpec(
    decider=VACANCY, aggregate_id=lambda command, _: command.vacancy_id,
    action=Action.CLOSE_VACANCY, given=_today_only, scope=_at_its_site)

REFER_WORKER: CommandSpec[ReferWorker, Vacancy, ForReferral] = CommandSpec(
    decider=VACANCY, aggregate_id=lambda command, _: command.vacancy_id,
    action=Action.REFER_WORKER, given=_for_referral, scope=_at_its_site,
    answer=_referral_created, status_code=201)

RECORD_EMPLOYER_ANSWER: CommandSpec[RecordEmployerAnswer, Vacancy, Today] = CommandSpec(
    decider=VACANCY, aggregate_id=lambda command, _: command.vacancy_id,
    action=Action.RECORD_EMPLOYER_ANSWER, given=_today_only, scope=_at_its_site)

RECORD_FOLLOW_UP: CommandSpec[RecordFollowUp, Vacancy, Today] = CommandSpec(
    decider=VACANCY, aggregate_id=lambda command, _: command.vacancy_id,
    action=Action.RECORD_FOLLOW_UP, given=_today_only, scope=_at_its_site)

# -- 返乡创业: guidance to start a business back home --------------------------------------------

class GuidanceRequested(BaseModel):
    request_id: str


async def _for_guidance_request(call: Call[RequestBusinessGuidance]) -> ForRequest:
    worker_id = call.command.worker_id
    if not await projections.knows_worker(call.conn, worker_id):
        raise NotFound("worker_unknown", "Employment knows no worker with this id.",
                       worker_id=worker_id)
    return ForRequest(today=_today(call), request_id=call.new_id(),
                      site=await projections.worker_site(call.conn, worker_id))


def _guidance_requested(_: Call[RequestBusinessGuidance], __: ForRequest,
                        events: Sequence[Event]) -> GuidanceRequested:
    [requested] = [e for e in events if isinstance(e, BusinessGuidanceRequested)]
    return GuidanceRequested(request_id=requested.request_id)


REQUEST_BUSINESS_GUIDANCE: CommandSpec[RequestBusinessGuidance, Guidance, ForRequest] = \
    CommandSpec(
    decider=GUIDANCE, aggregate_id=lambda command, _: command.worker_id,
    action=Action.REQUEST_BUSINESS_GUIDANCE, given=_for_guidance_request,
    scope=lambda _, __, given: Target(site=given.site),
    answer=_guidance_requested, status_code=201)


async def _for_guidance_answer(call: Call[GiveBusinessGuidance]) -> ForAnswer:
    return ForAnswer(today=_today(call))


GIVE_BUSINESS_GUIDANCE: CommandSpec[GiveBusinessGuidance, Guidance, ForAnswer] = CommandSpec(
    decider=GUIDANCE, aggregate_id=lambda command, _: command.worker_id,
    action=Action.GIVE_BUSINESS_GUIDANCE, given=_for_guidance_answer)

# -- 订单式培训: employers' orders for trained workers ------------------------------------------

async def _order_today(call: Call[Any]) -> OrderToday:
    return OrderToday(today=_today(call))


def _at_the_orders_site(command: Any, state: Order, _: Any) -> Target:
    """An order's commands are for its site's station: 404 when no order has this id."""
    if state.site is None:
        raise NotFound("order_unknown", "No training order has this id.",
                       order_id=command.order_id)
    return Target(site=state.site)


PLACE_TRAINING_ORDER: CommandSpec[PlaceTrainingOrder, Order, OrderToday] = CommandSpec(
    decider=ORDER, aggregate_id=lambda command, _: command.order_id,
    action=Action.PLACE_TRAINING_ORDER, given=_order_today,
    scope=lambda command, _, __: Target(site=command.site))

async def _for_plan(call: Call[PlanTrainingOrder]) -> ForPlan:
    return ForPlan(today=_today(call),
                   institution=await projections.institution(call.conn,
                                                             call.command.institution_id))


PLAN_TRAINING_ORDER: CommandSpec[PlanTrainingOrder, Order, ForPlan] = CommandSpec(
    decider=ORDER, aggregate_id=lambda command, _: command.order_id,
    action=Action.PLAN_TRAINING_ORDER, given=_for_plan)

CANCEL_TRAINING_ORDER: CommandSpec[CancelTrainingOrder, Order, OrderToday] = CommandSpec(
    decider=ORDER, aggregate_id=lambda command, _: command.order_id,
    action=Action.CANCEL_TRAINING_ORDER, given=_order_today, scope=_at_the_orders_site)

COMMANDS: dict[type, CommandSpec[Any, Any, Any]] = {
    PostVacancy: POST_VACANCY,
    CloseVacancy: CLOSE_VACANCY,
    ReferWorker: REFER_WORKER,
    RecordEmployerAnswer: RECORD_EMPLOYER_ANSWER,
    RecordFollowUp: RECORD_FOLLOW_UP,
    RequestBusinessGuidance: REQUEST_BUSINESS_GUIDANCE,
    GiveBusinessGuidance: GIVE_BUSINESS_GUIDANCE,
    PlaceTrainingOrder: PLACE_TRAINING_ORDER,
    PlanTrainingOrder: PLAN_TRAINING_ORDER,
    CancelTrainingOrder: CANCEL_TRAINING_ORDER,
}
