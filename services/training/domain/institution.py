"""Training institutions the government buys training from: accredit, suspend, reinstate.

An institution is accredited for some occupations at some sites; a suspended one keeps its
history but cannot open a class until it is reinstated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from services.training.domain.catalogue import Occupation
from shared.contracts.bounds import MAX_OCCUPATIONS, MAX_SITES, MAX_TIES, Id, Name
from shared.contracts.common import OccupationCode, WorkSite
from shared.contracts.training import (
    InstitutionAccredited,
    InstitutionReinstated,
    InstitutionSuspended,
)
from shared.runtime.errors import DomainError

InstitutionEvent = InstitutionAccredited | InstitutionSuspended | InstitutionReinstated


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AccreditInstitution(_Command):
    institution_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    occupations: list[OccupationCode] = Field(min_length=1, max_length=MAX_OCCUPATIONS)
    sites: list[WorkSite] = Field(min_length=1, max_length=MAX_SITES)
    partners: list[Name] = Field(default_factory=list, max_length=MAX_TIES,
                                 description="Partner enterprises or schools")


class SuspendInstitution(_Command):
    institution_id: Id
    reason: str = Field(min_length=1, max_length=500)


class ReinstateInstitution(_Command):
    institution_id: Id


@dataclass(frozen=True, slots=True)
class Institution:
    institution_id: str | None = None
    occupations: frozenset[str] = frozenset()
    sites: tuple[WorkSite, ...] = ()
    partners: tuple[str, ...] = ()
    suspended: bool = False

    @property
    def accredited(self) -> bool:
        return self.institution_id is not None

    def may_teach(self, occupation_code: str) -> bool:
        return occupation_code in self.occupations

    def may_teach_at(self, site: WorkSite) -> bool:
        return site in self.sites


def accredit(cmd: AccreditInstitution, state: Institution, *,
             catalogue: Mapping[str, Occupation], today: date) -> list[InstitutionEvent]:
    if state.accredited:
        raise DomainError("institution_already_accredited",
                          "This institution is already accredited.",
                          institution_id=state.institution_id)
    unknown = sorted(set(cmd.occupations) - set(catalogue))
    if unknown:
        raise DomainError("occupation_not_in_catalogue",
                          f"Not in the occupation catalogue: {', '.join(unknown)}.",
                          occupations=unknown)
    return [InstitutionAccredited(
        institution_id=cmd.institution_id, name=cmd.name,
        occupations=sorted(set(cmd.occupations)), sites=cmd.sites, partners=cmd.partners,
        accredited_on=today,
    )]


def suspend(cmd: SuspendInstitution, state: Institution, *,
            today: date) -> list[InstitutionEvent]:
    _require_accredited(state, cmd.institution_id)
    if state.suspended:
        raise DomainError("institution_already_suspended",
                          "This institution is already suspended.",
                          institution_id=cmd.institution_id)
    return [InstitutionSuspended(institution_id=cmd.institution_id, reason=cmd.reason,
                                 suspended_on=today)]


def reinstate(cmd: ReinstateInstitution, state: Institution, *,
              today: date) -> list[InstitutionEvent]:
    _require_accredited(state, cmd.institution_id)
    if not state.suspended:
        raise DomainError("institution_not_suspended",
                          "Only a suspended institution can be reinstated.",
                          institution_id=cmd.institution_id)
    return [InstitutionReinstated(institution_id=cmd.institution_id, reinstated_on=today)]


def evolve(state: Institution, event: InstitutionEvent) -> Institution:
    match event:
        case InstitutionAccredited():
            return Institution(institution_id=event.institution_id,
                               occupations=frozenset(event.occupations),
                               sites=tuple(event.sites), partners=tuple(event.partners))
        case InstitutionSuspended():
            return replace(state, suspended=True)
        case InstitutionReinstated():
            return replace(state, suspended=False)
    return state


def _require_accredited(state: Institution, institution_id: str) -> None:
    if not state.accredited:
        raise DomainError("institution_unknown", "No accredited institution has this id.",
                          institution_id=institution_id)
