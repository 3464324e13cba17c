"""A worker's requests for guidance to start a business back home (返乡创业), one stream per
worker (``guidance-{worker_id}``): at most one open at a time, answered by the HR bureau."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.bounds import Id, Name
from shared.contracts.common import WorkSite
from shared.contracts.employment import (
    BusinessGuidanceGiven,
    BusinessGuidanceRequested,
    BusinessKind,
    GuidanceNeed,
)
from shared.runtime.commands import Decider
from shared.runtime.errors import DomainError

GuidanceEvent = BusinessGuidanceRequested | BusinessGuidanceGiven


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RequestBusinessGuidance(_Command):
    worker_id: Id
    business_kind: BusinessKind
    needs: list[GuidanceNeed] = Field(min_length=1, max_length=6)
    hometown_county: Name | None = None


class GiveBusinessGuidance(_Command):
    worker_id: Id
    request_id: Id
    referred_to: Name = Field(description="Who takes the request on (an organisation)")


@dataclass(frozen=True, slots=True)
class Guidance:
    open_request: str | None = None
    requests: int = 0


@dataclass(frozen=True, slots=True)
class ForRequest:
    today: date
    request_id: str
    site: WorkSite | None = None  # where the worker works: whose station may ask for them


@dataclass(frozen=True, slots=True)
class ForAnswer:
    today: date


MAX_REQUESTS_PER_WORKER = 100
"""Requests one worker's stream holds: bounds what every request and answer reads."""


def decide(command: object, state: Guidance, given: object) -> list[GuidanceEvent]:
    match command, given:
        case RequestBusinessGuidance(), ForRequest():
            if state.open_request is not None:
                raise DomainError("guidance_already_requested", "The worker's earlier request "
                                  "is still waiting for the HR bureau's answer.",
                                  request_id=state.open_request)
            if state.requests >= MAX_REQUESTS_PER_WORKER:
                raise DomainError("too_many_requests", "The worker has made as many requests "
                                  "as one may.", limit=MAX_REQUESTS_PER_WORKER)
            return [BusinessGuidanceRequested(
                request_id=given.request_id, worker_id=command.worker_id,
                business_kind=command.business_kind, needs=list(dict.fromkeys(command.needs)),
                hometown_county=command.hometown_county, requested_on=given.today)]
        case GiveBusinessGuidance(), ForAnswer():
            if state.open_request != command.request_id:
                raise DomainError("guidance_request_not_open", "The worker has no open request "
                                  "with this id.", request_id=command.request_id)
            return [BusinessGuidanceGiven(request_id=command.request_id,
                                          worker_id=command.worker_id,
                                          referred_to=command.referred_to,
                                          given_on=given.today)]
    raise TypeError(f"not a guidance command: {command!r}")


def evolve(state: Guidance, event: GuidanceEvent) -> Guidance:
    match event:
        case BusinessGuidanceRequested():
            return Guidance(open_request=event.request_id, requests=state.requests + 1)
        case BusinessGuidanceGiven():
            return Guidance(open_request=None, requests=state.requests)
    return state


def guidance_stream(worker_id: str) -> str:
    return f"guidance-{worker_id}"


GUIDANCE: Decider[Guidance] = Decider(stream=guidance_stream, initial=Guidance(),
                                      evolve=evolve, decide=decide)
