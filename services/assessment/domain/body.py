"""Assessment bodies and their assessors, each with the affiliations that decide independence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.assessment import AssessmentBodyRegistered, AssessorAdded
from shared.contracts.bounds import MAX_TIES, Id, Name
from shared.runtime.commands import Decider
from shared.runtime.errors import DomainError

BodyEvent = AssessmentBodyRegistered | AssessorAdded


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RegisterAssessmentBody(_Command):
    body_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    code: str = Field(pattern=r"^[A-Z0-9]{2,12}$", max_length=12,
                      description="Short code that prefixes its certificate numbers")
    affiliations: list[Name] = Field(default_factory=list, max_length=MAX_TIES,
                                     description="Institutions and employers it is tied to")


class AddAssessor(_Command):
    body_id: Id
    assessor_id: str = Field(min_length=1, max_length=64)
    affiliations: list[Name] = Field(default_factory=list, max_length=MAX_TIES)


@dataclass(frozen=True, slots=True)
class AssessmentBody:
    body_id: str | None = None
    code: str | None = None
    affiliations: frozenset[str] = frozenset()
    assessors: Mapping[str, frozenset[str]] = field(default_factory=dict)  # id -> affiliations

    @property
    def registered(self) -> bool:
        return self.body_id is not None


def register(cmd: RegisterAssessmentBody, state: AssessmentBody) -> list[BodyEvent]:
    if state.registered:
        raise DomainError("body_already_registered",
                          "An assessment body with this id is already registered.",
                          body_id=cmd.body_id)
    return [AssessmentBodyRegistered(body_id=cmd.body_id, name=cmd.name, code=cmd.code,
                                     affiliations=sorted(set(cmd.affiliations)))]


def add_assessor(cmd: AddAssessor, state: AssessmentBody) -> list[BodyEvent]:
    require_registered(state, cmd.body_id)
    if cmd.assessor_id in state.assessors:
        raise DomainError("assessor_already_added", "This assessor already belongs to the body.",
                          assessor_id=cmd.assessor_id)
    return [AssessorAdded(body_id=cmd.body_id, assessor_id=cmd.assessor_id,
                          affiliations=sorted(set(cmd.affiliations)))]


def decide(command: RegisterAssessmentBody | AddAssessor, state: AssessmentBody,
           given: None) -> list[BodyEvent]:
    """Route a command to its rules; a body's commands need nothing besides its state."""
    match command:
        case RegisterAssessmentBody():
            return register(command, state)
        case AddAssessor():
            return add_assessor(command, state)
    raise TypeError(f"not an assessment body command: {command!r}")


def evolve(state: AssessmentBody, event: BodyEvent) -> AssessmentBody:
    match event:
        case AssessmentBodyRegistered():
            # Assessors listed at registration have no declared affiliations of their own.
            return AssessmentBody(body_id=event.body_id, code=event.code,
                                  affiliations=frozenset(event.affiliations),
                                  assessors={a: frozenset() for a in event.assessor_ids})
        case AssessorAdded():
            return replace(state, assessors={**state.assessors,
                                             event.assessor_id: frozenset(event.affiliations)})
    return state


def require_registered(state: AssessmentBody, body_id: str) -> None:
    if not state.registered:
        raise DomainError("body_unknown", "No assessment body is registered with this id.",
                          body_id=body_id)


def body_stream(body_id: str) -> str:
    return f"body-{body_id}"


BODY: Decider[AssessmentBody] = Decider(stream=body_stream, initial=AssessmentBody(),
                                        evolve=evolve, decide=decide)
