"""An employer's order for trained workers (订单式培训), one stream per order (``order-{id}``):
placed by the site's liaison station or the HR bureau, turned by the HR bureau into a class
plan with an accredited institution that teaches the occupation and is not suspended (the
institution then schedules the class in training), and cancellable until it is cancelled.

An order names an organisation and an occupation, a site and a headcount: never a worker."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.bounds import Id, Name, NewId, Text
from shared.contracts.common import OccupationCode, WorkSite
from shared.contracts.employment import (
    MAX_HEADCOUNT,
    TrainingOrderCancelled,
    TrainingOrderPlaced,
    TrainingOrderPlanned,
)
from shared.runtime.commands import Decider
from shared.runtime.errors import DomainError, NotFound

OrderEvent = TrainingOrderPlaced | TrainingOrderPlanned | TrainingOrderCancelled


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlaceTrainingOrder(_Command):
    order_id: NewId = Field(pattern=r"^[^/]+$")
    employer: Name = Field(description="The ordering organisation's name (no person's name)")
    site: WorkSite
    occupation_code: OccupationCode
    headcount: int = Field(ge=1, le=MAX_HEADCOUNT)
    wanted_by: date = Field(description="The day the employer wants the workers trained by")


class PlanTrainingOrder(_Command):
    order_id: Id
    institution_id: Name = Field(description="The accredited institution that will train")
    class_id: Name = Field(pattern=r"^[^/]+$",
                           description="The class the institution is to schedule")


class CancelTrainingOrder(_Command):
    order_id: Id
    reason: Text = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Order:
    site: WorkSite | None = None  # None: no order has this id
    occupation_code: str = ""
    planned: bool = False
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class Today:
    today: date


@dataclass(frozen=True, slots=True)
class Institution:
    """An accredited institution as training's events describe it."""

    occupations: frozenset[str]
    suspended: bool = False


@dataclass(frozen=True, slots=True)
class ForPlan:
    today: date
    institution: Institution | None  # None: no institution is accredited with the id


def _unknown(order_id: str) -> NotFound:
    return NotFound("order_unknown", "No training order has this id.", order_id=order_id)


def _place(cmd: PlaceTrainingOrder, state: Order, today: date) -> list[OrderEvent]:
    if state.site is not None:
        raise DomainError("order_already_placed", "A training order with this id is already "
                          "placed.", order_id=cmd.order_id)
    if cmd.wanted_by < today:
        raise DomainError("order_wanted_in_the_past", "An order's workers must be wanted "
                          "today or later.", wanted_by=str(cmd.wanted_by))
    return [TrainingOrderPlaced(**cmd.model_dump(), placed_on=today)]


def _open(order_id: str, state: Order) -> None:
    """Raise unless the order exists and is not cancelled."""
    if state.site is None:
        raise _unknown(order_id)
    if state.cancelled:
        raise DomainError("order_cancelled", "The training order is cancelled.",
                          order_id=order_id)


def _may_teach(institution_id: str, institution: Institution | None, occupation: str) -> None:
    """Raise unless the institution is accredited in the occupation and not suspended."""
    if institution is None:
        raise DomainError("institution_not_accredited", "No institution is accredited with "
                          "this id.", institution_id=institution_id)
    if institution.suspended:
        raise DomainError("institution_suspended", "The institution is suspended.",
                          institution_id=institution_id)
    if occupation not in institution.occupations:
        raise DomainError("institution_not_accredited_in_occupation", "The institution is "
                          "not accredited to teach the order's occupation.",
                          institution_id=institution_id, occupation_code=occupation)


def decide(command: object, state: Order, given: object) -> list[OrderEvent]:
    match command, given:
        case PlaceTrainingOrder(), Today():
            return _place(command, state, given.today)
        case PlanTrainingOrder(), ForPlan():
            _open(command.order_id, state)
            if state.planned:
                raise DomainError("order_already_planned", "The training order already has "
                                  "its class plan.", order_id=command.order_id)
            _may_teach(command.institution_id, given.institution, state.occupation_code)
            return [TrainingOrderPlanned(order_id=command.order_id,
                                         institution_id=command.institution_id,
                                         class_id=command.class_id, planned_on=given.today)]
        case CancelTrainingOrder(), Today():
            _open(command.order_id, state)
            return [TrainingOrderCancelled(order_id=command.order_id, reason=command.reason,
                                           cancelled_on=given.today)]
    raise TypeError(f"not a training order command: {command!r}")


def evolve(state: Order, event: OrderEvent) -> Order:
    match event:
        case TrainingOrderPlaced():
            return Order(site=event.site, occupation_code=event.occupation_code)
        case TrainingOrderPlanned():
            return replace(state, planned=True)
        case TrainingOrderCancelled():
            return replace(state, cancelled=True)
    return state


def order_stream(order_id: str) -> str:
    return f"order-{order_id}"


ORDER: Decider[Order] = Decider(stream=order_stream, initial=Order(), evolve=evolve,
                                decide=decide)
