"""Events published by the enrolment service (topic ``songji.enrolment.events``)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from shared.contracts.base import Event, contract

Gender = Literal["female", "male"]


@contract("enrolment")
class WorkerRegistered(Event):
    """A liaison station registered a worker under their real name.

    Only the pseudonymous ``worker_id`` leaves enrolment: the name, the national ID number
    and the phone stay in enrolment's encrypted store.
    """

    worker_id: str = Field(description="Pseudonymous id of the worker, stable for life")
    gender: Gender = Field(description="Derived from the national ID number")
    birth_year: int = Field(ge=1900, le=2100, description="Derived from the national ID number")


@contract("enrolment")
class WorkerEnrolled(Event):
    enrolment_id: str
    worker_id: str
    class_id: str
    occupation_code: str
    target_level: int = Field(ge=1, le=5)
    enrolled_on: date


@contract("enrolment")
class EnrolmentWithdrawn(Event):
    enrolment_id: str
    worker_id: str
    class_id: str
    reason: str = Field(min_length=1, max_length=500)
    withdrawn_on: date
