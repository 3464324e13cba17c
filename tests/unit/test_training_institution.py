from datetime import date

import pytest

from services.training.domain import institution
from services.training.domain.decide import InstitutionGiven, decide_institution
from services.training.domain.institution import (
    Institution,
    ReinstateInstitution,
    SuspendInstitution,
)
from shared.contracts.training import InstitutionAccredited, InstitutionSuspended
from shared.runtime.errors import DomainError
from tests.unit.builders import CATALOGUE, FUKANG, accredit_command, fold

TODAY = date(2025, 7, 1)


def accredited() -> Institution:
    events = institution.accredit(accredit_command(), Institution(), catalogue=CATALOGUE,
                                  today=TODAY)
    return fold(institution.evolve, Institution(), events)


def test_accrediting_records_occupations_sites_and_partners():
    [event] = institution.accredit(accredit_command(), Institution(), catalogue=CATALOGUE,
                                   today=TODAY)
    assert isinstance(event, InstitutionAccredited)
    assert event.occupations == ["crop_protection_worker", "electrician"]
    assert event.sites == [FUKANG]
    assert event.partners == ["阜康某农业合作社"]
    assert event.accredited_on == TODAY


def test_an_institution_is_accredited_once():
    with pytest.raises(DomainError) as err:
        institution.accredit(accredit_command(), accredited(), catalogue=CATALOGUE, today=TODAY)
    assert err.value.code == "institution_already_accredited"


def test_occupations_must_come_from_the_catalogue():
    with pytest.raises(DomainError) as err:
        institution.accredit(accredit_command(occupations=["astronaut"]), Institution(),
                             catalogue=CATALOGUE, today=TODAY)
    assert err.value.code == "occupation_not_in_catalogue"
    assert err.value.details["occupations"] == ["astronaut"]


def test_suspend_then_reinstate():
    state = accredited()
    events = institution.suspend(SuspendInstitution(institution_id="inst-1", reason="虚报人数"),
                                 state, today=TODAY)
    assert isinstance(events[0], InstitutionSuspended)
    state = fold(institution.evolve, state, events)
    assert state.suspended
    state = fold(institution.evolve, state,
                 institution.reinstate(ReinstateInstitution(institution_id="inst-1"), state,
                                       today=TODAY))
    assert not state.suspended


def test_an_unknown_institution_cannot_be_suspended():
    with pytest.raises(DomainError) as err:
        institution.suspend(SuspendInstitution(institution_id="nope", reason="x"), Institution(),
                            today=TODAY)
    assert err.value.code == "institution_unknown"


def test_a_suspended_institution_is_not_suspended_again():
    state = fold(institution.evolve, accredited(), institution.suspend(
        SuspendInstitution(institution_id="inst-1", reason="x"), accredited(), today=TODAY))
    with pytest.raises(DomainError) as err:
        institution.suspend(SuspendInstitution(institution_id="inst-1", reason="y"), state,
                            today=TODAY)
    assert err.value.code == "institution_already_suspended"


def test_only_a_suspended_institution_is_reinstated():
    with pytest.raises(DomainError) as err:
        institution.reinstate(ReinstateInstitution(institution_id="inst-1"), accredited(),
                              today=TODAY)
    assert err.value.code == "institution_not_suspended"


def test_decide_routes_institution_commands():
    events = decide_institution(accredit_command(), Institution(),
                                InstitutionGiven(today=TODAY, catalogue=CATALOGUE))
    assert isinstance(events[0], InstitutionAccredited)
