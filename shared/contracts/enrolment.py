"""Events published by the enrolment service (topic ``songji.enrolment.events``)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from shared.contracts.base import Event, contract
from shared.contracts.bounds import MAX_CHOICES, MAX_OCCUPATIONS, Id, ShortText
from shared.contracts.common import ClassMode, OccupationCode, WageBand, WorkSite

Gender = Literal["female", "male"]


@contract("enrolment")
class WorkerRegistered(Event):
    """A liaison station registered a worker under their real name.

    Only the pseudonymous ``worker_id`` leaves enrolment: the name, the national ID number
    and the phone stay in enrolment's encrypted store.
    """

    worker_id: Id = Field(description="Pseudonymous id of the worker, stable for life")
    gender: Gender = Field(description="Derived from the national ID number")
    birth_year: int = Field(ge=1900, le=2100, description="Derived from the national ID number")
    hometown_county: str | None = Field(
        None, max_length=60, description="County the worker comes from, e.g. 禄劝彝族苗族自治县"
    )
    work_site: WorkSite | None = Field(None, description="Where the worker works now")


@contract("enrolment")
class IntakeSurveyRecorded(Event):
    """A liaison station surveyed what a worker wants to learn and when they can attend."""

    survey_id: Id
    worker_id: Id
    desired_occupations: list[OccupationCode] = Field(min_length=1, max_length=MAX_OCCUPATIONS)
    availability: list[ClassMode] = Field(min_length=1, max_length=MAX_CHOICES)
    earliest_start: date
    surveyed_on: date
    current_wage_band: WageBand | None = Field(
        None, description="The worker's monthly wage now, as a band (yuan), when they told it")


@contract("enrolment")
class WorkerEnrolled(Event):
    """A liaison station enrolled a worker in an approved, open class."""

    enrolment_id: Id
    worker_id: Id
    class_id: Id
    occupation_code: ShortText
    target_level: int = Field(ge=1, le=5)
    enrolled_on: date


@contract("enrolment")
class EnrolmentWithdrawn(Event):
    """A worker left a class, with the reason."""

    enrolment_id: Id
    worker_id: Id
    class_id: Id
    reason: str = Field(min_length=1, max_length=500)
    withdrawn_on: date
