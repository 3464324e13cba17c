"""Registering a worker under their real name: the command and its decision."""

from __future__ import annotations

from dataclasses import dataclass

from services.enrolment.domain.national_id import NationalId
from shared.contracts.enrolment import WorkerRegistered


@dataclass(frozen=True, slots=True)
class RegisterWorker:
    name: str
    national_id: NationalId
    mobile: str


def decide_registration(command: RegisterWorker, *, worker_id: str) -> list[WorkerRegistered]:
    """The event carries the pseudonym and what the ID number implies, never the number."""
    return [
        WorkerRegistered(
            worker_id=worker_id,
            gender=command.national_id.gender,
            birth_year=command.national_id.birth_date.year,
        )
    ]


def worker_stream(worker_id: str) -> str:
    return f"worker-{worker_id}"
