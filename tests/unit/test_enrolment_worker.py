from datetime import date

import pytest
from pydantic import ValidationError

from services.enrolment.domain import worker
from services.enrolment.domain.commands import Enrol, RecordIntakeSurvey, RegisterWorker, Withdraw
from services.enrolment.domain.national_id import check_digit
from services.enrolment.domain.views import (
    Certificate,
    ClassView,
    evolve_certificates,
    evolve_class_view,
)
from services.enrolment.domain.worker import (
    ForEnrolment,
    ForRegistration,
    ForSurvey,
    ForWithdrawal,
    Worker,
)
from shared.contracts.assessment import CertificationRevoked, SkillLevelCertified
from shared.contracts.enrolment import (
    EnrolmentWithdrawn,
    IntakeSurveyRecorded,
    WorkerEnrolled,
    WorkerRegistered,
)
from shared.contracts.training import ClassApproved, ClassCompleted, ClassScheduled
from shared.runtime.errors import DomainError
from tests.unit.builders import CATALOGUE, FUKANG, fold, national_id, schedule_command

TODAY = date(2025, 7, 20)
NAME, MOBILE = "张三", "13812345678"


def register_command(**overrides: object) -> RegisterWorker:
    fields: dict[str, object] = dict(
        name=NAME, national_id=national_id(), mobile=MOBILE, hometown_county="禄劝彝族苗族自治县",
        hometown_township="翠华镇", household_county="禄劝彝族苗族自治县", work_site=FUKANG,
        employer="新疆某农业公司",
    )
    fields.update(overrides)
    return RegisterWorker.model_validate(fields)


def registered() -> Worker:
    return fold(worker.evolve, Worker(), worker.register(
        register_command(), Worker(), worker_id="w-1", existing_worker_id=None))


def open_class(**overrides: object) -> ClassView:
    fields: dict[str, object] = dict(class_id="class-1", institution_id="inst-1",
                                     occupation_code="electrician", target_level=5, capacity=2,
                                     first_session_date=date(2025, 7, 24), approved=True)
    fields.update(overrides)
    return ClassView(**fields)  # type: ignore[arg-type]


def enrol(state: Worker, view: ClassView | None = None, *, enrolment_id="e-1", today=TODAY,
          certificates=(), per_year=1) -> list:
    return worker.enrol(Enrol(worker_id="w-1", class_id=(view or open_class()).class_id),
                        state, class_view=view or open_class(), certificates=certificates,
                        enrolment_id=enrolment_id, today=today, subsidised_per_year=per_year)


def refused(fn, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as err:
        fn(*args, **kwargs)
    return err.value


# -- registration ------------------------------------------------------------------------------

def test_registration_event_carries_only_pseudonymous_facts():
    [event] = worker.register(register_command(), Worker(), worker_id="w-1",
                              existing_worker_id=None)
    assert event == WorkerRegistered(worker_id="w-1", gender="male", birth_year=1990,
                                     hometown_county="禄劝彝族苗族自治县", work_site=FUKANG)
    payload = event.model_dump_json()
    for secret in (NAME, national_id(), MOBILE, "新疆某农业公司", "翠华镇"):
        assert secret not in payload


def test_gender_and_birth_year_come_from_the_national_id():
    [event] = worker.register(register_command(national_id=national_id("53012820010315002")),
                              Worker(), worker_id="w-2", existing_worker_id=None)
    assert (event.gender, event.birth_year) == ("female", 2001)


def test_a_second_registration_of_the_same_id_names_the_existing_worker_if_visible():
    err = refused(worker.register, register_command(), Worker(), worker_id="w-new",
                  existing_worker_id="w-1", existing_visible=True)
    assert err.code == "worker_already_registered"
    assert err.details == {"worker_id": "w-1"}


def test_a_second_registration_does_not_name_a_worker_the_registrant_may_not_see():
    err = refused(worker.register, register_command(), Worker(), worker_id="w-new",
                  existing_worker_id="w-1")
    assert (err.code, err.details) == ("worker_already_registered", {})


def test_a_registered_stream_is_not_registered_again():
    err = refused(worker.register, register_command(), registered(), worker_id="w-1",
                  existing_worker_id=None)
    assert err.code == "worker_already_registered"


@pytest.mark.parametrize("bad", ["53012819900101123", "530128199001011234",
                                 "53012819901301123" + "0", "abc"])
def test_a_malformed_national_id_is_refused_without_echoing_it(bad):
    with pytest.raises(ValidationError) as err:
        register_command(national_id=bad)
    assert "national_id" in str(err.value)
    assert bad not in str(err.value)


@pytest.mark.parametrize("bad", ["12812345678", "1381234567", "138123456789", "+8613812345678",
                                 "23812345678"])
def test_a_mobile_must_be_a_mainland_number(bad):
    with pytest.raises(ValidationError) as err:
        register_command(mobile=bad)
    assert "mobile" in str(err.value)
    assert bad not in str(err.value)


@pytest.mark.parametrize("mobile", ["13012345678", "19912345678", "15512345678"])
def test_mainland_mobiles_from_13_to_19_are_accepted(mobile):
    assert register_command(mobile=mobile).mobile == mobile


@pytest.mark.parametrize("field", ["hometown_county", "hometown_township", "household_county",
                                   "employer", "name"])
def test_every_registration_field_is_required(field):
    with pytest.raises(ValidationError):
        register_command(**{field: ""})


def test_personal_fields_stay_out_of_the_commands_repr():
    text = repr(register_command())
    assert NAME not in text and MOBILE not in text and national_id() not in text


def test_a_lower_case_check_x_is_normalised():
    first17 = next(f"530128199001011{n:02d}" for n in range(100)
                   if check_digit(f"530128199001011{n:02d}") == "X")
    assert register_command(national_id=first17 + "x").national_id == first17 + "X"


# -- intake survey -----------------------------------------------------------------------------

def survey(**overrides: object) -> RecordIntakeSurvey:
    fields: dict[str, object] = dict(worker_id="w-1",
                                     desired_occupations=["electrician", "welder", "electrician"],
                                     availability=["night", "weekend"],
                                     earliest_start=date(2025, 8, 1))
    fields.update(overrides)
    return RecordIntakeSurvey.model_validate(fields)


def test_a_survey_records_occupations_availability_and_start():
    [event] = worker.record_survey(survey(), registered(), survey_id="sv-1",
                                   known_occupations=CATALOGUE, today=TODAY)
    assert event == IntakeSurveyRecorded(
        survey_id="sv-1", worker_id="w-1", desired_occupations=["electrician", "welder"],
        availability=["night", "weekend"], earliest_start=date(2025, 8, 1), surveyed_on=TODAY)
    assert fold(worker.evolve, registered(), [event]).survey_ids == ("sv-1",)


def test_survey_occupations_come_from_the_catalogue():
    err = refused(worker.record_survey, survey(desired_occupations=["astronaut"]), registered(),
                  survey_id="sv-1", known_occupations=CATALOGUE, today=TODAY)
    assert err.code == "occupation_not_in_catalogue"


def test_only_a_registered_worker_is_surveyed():
    err = refused(worker.record_survey, survey(), Worker(), survey_id="sv-1",
                  known_occupations=CATALOGUE, today=TODAY)
    assert err.code == "worker_unknown"


def test_availability_is_weekend_night_or_full_time():
    with pytest.raises(ValidationError):
        survey(availability=["mornings"])
    with pytest.raises(ValidationError):
        survey(availability=[])
    with pytest.raises(ValidationError):
        survey(desired_occupations=[])


# -- enrolment ---------------------------------------------------------------------------------

def test_enrolling_in_an_open_class():
    [event] = enrol(registered())
    assert event == WorkerEnrolled(enrolment_id="e-1", worker_id="w-1", class_id="class-1",
                                   occupation_code="electrician", target_level=5,
                                   enrolled_on=TODAY)


def test_only_a_registered_worker_enrols():
    assert refused(enrol, Worker()).code == "worker_unknown"


def test_the_class_must_be_known():
    err = refused(worker.enrol, Enrol(worker_id="w-1", class_id="nope"), registered(),
                  class_view=None, certificates=(), enrolment_id="e-1", today=TODAY)
    assert err.code == "class_unknown"


def test_the_class_must_be_approved():
    assert refused(enrol, registered(), open_class(approved=False)).code == "class_not_approved"


def test_the_class_must_be_open():
    assert refused(enrol, registered(), open_class(completed=True)).code == "class_not_open"


def test_the_class_must_have_a_place_left():
    err = refused(enrol, registered(), open_class(enrolled_count=2))
    assert (err.code, err.details["capacity"]) == ("class_full", 2)
    assert enrol(registered(), open_class(enrolled_count=1))


def test_a_worker_is_not_enrolled_twice_in_a_class():
    state = fold(worker.evolve, registered(), enrol(registered()))
    err = refused(enrol, state, per_year=5, enrolment_id="e-2")
    assert err.code == "already_enrolled"


def test_at_most_n_subsidised_trainings_per_calendar_year():
    state = fold(worker.evolve, registered(), enrol(registered()))
    other = open_class(class_id="class-2")
    assert refused(enrol, state, other, enrolment_id="e-2").code == \
        "subsidised_training_limit_reached"
    assert enrol(state, other, enrolment_id="e-2", per_year=2)
    assert enrol(state, other, enrolment_id="e-2", today=date(2026, 1, 2))
    assert worker.DEFAULT_SUBSIDISED_TRAININGS_PER_YEAR == 1


def test_a_withdrawn_enrolment_does_not_use_up_the_yearly_allowance():
    state = fold(worker.evolve, registered(), enrol(registered()))
    state = fold(worker.evolve, state, worker.withdraw(
        Withdraw(enrolment_id="e-1", reason="changed job"), state, worker_id="w-1",
        class_view=open_class(), today=TODAY))
    assert enrol(state, open_class(class_id="class-2"), enrolment_id="e-2")


def test_a_worker_certified_in_the_occupation_at_that_level_is_refused():
    err = refused(enrol, registered(), certificates=[Certificate("electrician", 5)])
    assert (err.code, err.details["level"]) == ("already_certified", 5)
    assert enrol(registered(), certificates=[Certificate("electrician", 4)])
    assert enrol(registered(), certificates=[Certificate("welder", 5)])


# -- withdrawal --------------------------------------------------------------------------------

def enrolled() -> Worker:
    return fold(worker.evolve, registered(), enrol(registered()))


def test_withdrawing_with_a_reason():
    [event] = worker.withdraw(Withdraw(enrolment_id="e-1", reason="返乡"),
                              enrolled(), worker_id="w-1", class_view=open_class(), today=TODAY)
    assert event == EnrolmentWithdrawn(enrolment_id="e-1", worker_id="w-1", class_id="class-1",
                                       reason="返乡", withdrawn_on=TODAY)


def test_a_reason_is_required():
    with pytest.raises(ValidationError):
        Withdraw(enrolment_id="e-1", reason="")


def test_withdrawing_an_unknown_enrolment_is_refused():
    err = refused(worker.withdraw, Withdraw(enrolment_id="nope", reason="x"),
                  enrolled(), worker_id="w-1", class_view=None, today=TODAY)
    assert err.code == "enrolment_unknown"


def test_an_enrolment_is_withdrawn_once():
    cmd = Withdraw(enrolment_id="e-1", reason="x")
    state = fold(worker.evolve, enrolled(), worker.withdraw(
        cmd, enrolled(), worker_id="w-1", class_view=open_class(), today=TODAY))
    err = refused(worker.withdraw, cmd, state, worker_id="w-1", class_view=open_class(),
                  today=TODAY)
    assert err.code == "enrolment_already_withdrawn"


def test_no_withdrawal_from_a_completed_class():
    err = refused(worker.withdraw, Withdraw(enrolment_id="e-1", reason="x"),
                  enrolled(), worker_id="w-1", class_view=open_class(completed=True),
                  today=TODAY)
    assert err.code == "class_already_completed"


# -- the decider the command pipeline runs ------------------------------------------------------

def test_decide_routes_each_worker_command_with_what_it_was_given():
    [registered_event] = worker.decide(register_command(), Worker(), ForRegistration(
        worker_id="w-1", existing_worker_id=None))
    assert isinstance(registered_event, WorkerRegistered)
    assert registered_event.worker_id == "w-1"
    state = fold(worker.evolve, Worker(), [registered_event])

    [surveyed] = worker.decide(survey(), state, ForSurvey(
        survey_id="sv-1", site=FUKANG, known_occupations=frozenset(CATALOGUE), today=TODAY))
    assert (surveyed.survey_id, surveyed.surveyed_on) == ("sv-1", TODAY)

    [enrolled_event] = worker.decide(Enrol(worker_id="w-1", class_id="class-1"), state,
                                     ForEnrolment(enrolment_id="e-1", site=FUKANG,
                                                  class_view=open_class(), certificates=(),
                                                  today=TODAY))
    assert isinstance(enrolled_event, WorkerEnrolled)
    assert enrolled_event.enrolment_id == "e-1"
    state = fold(worker.evolve, state, [enrolled_event])

    [withdrawn] = worker.decide(Withdraw(enrolment_id="e-1", reason="返乡"), state,
                                ForWithdrawal(worker_id="w-1", site=FUKANG,
                                              class_view=open_class(), today=TODAY))
    assert withdrawn == EnrolmentWithdrawn(enrolment_id="e-1", worker_id="w-1",
                                           class_id="class-1", reason="返乡", withdrawn_on=TODAY)


def test_decide_passes_on_the_refusals_of_the_rules_it_routes_to():
    err = refused(worker.decide, register_command(), Worker(), ForRegistration(
        worker_id="w-2", existing_worker_id="w-1", existing_visible=True))
    assert (err.code, err.details) == ("worker_already_registered", {"worker_id": "w-1"})
    err = refused(worker.decide, Enrol(worker_id="w-1", class_id="class-1"), registered(),
                  ForEnrolment(enrolment_id="e-1", site=FUKANG,
                               class_view=open_class(enrolled_count=2), certificates=(),
                               today=TODAY, subsidised_per_year=3))
    assert err.code == "class_full"


def test_decide_refuses_a_command_given_another_command_s_facts():
    with pytest.raises(TypeError):
        worker.decide(Enrol(worker_id="w-1", class_id="class-1"), registered(),
                      ForRegistration(worker_id="w-1", existing_worker_id=None))


def test_the_worker_decider_names_one_stream_per_worker():
    assert worker.WORKER.stream("w-1") == "worker-w-1"
    assert worker.WORKER.initial == Worker() and not worker.WORKER.initial.registered


# -- enrolment's views of other services' events ----------------------------------------------

def test_the_class_view_follows_training_events():
    sched = schedule_command()
    scheduled = ClassScheduled(
        class_id="class-1", institution_id="inst-1", occupation_code="electrician",
        target_level=5, site=FUKANG, mode="night", capacity=30,
        sessions=[{"session_id": "s001", "date": date(2025, 7, 24), "start_local": "19:00",
                   "end_local": "21:00", "kind": "classroom_theory", "minutes": 120}],
        required_minutes=sched.required_minutes)
    view = evolve_class_view(None, scheduled)
    assert view is not None and not view.open and view.capacity == 30
    view = evolve_class_view(view, ClassApproved(class_id="class-1", approved_on=TODAY))
    assert view is not None and view.open
    completed = ClassCompleted(class_id="class-1", institution_id="inst-1",
                               occupation_code="electrician", target_level=5, site=FUKANG,
                               first_session_date=TODAY, completed_on=TODAY,
                               threshold_percent=80, trainees=[])
    view = evolve_class_view(view, completed)
    assert view is not None and not view.open


def test_certificates_follow_certification_and_revocation():
    certified = SkillLevelCertified(certificate_id="c-1", certificate_number="N", worker_id="w-1",
                                    occupation_code="electrician", level=5, body_id="b",
                                    assessment_id="a", class_id="class-1", certified_on=TODAY)
    certs = evolve_certificates({}, certified)
    assert set(certs.values()) == {Certificate("electrician", 5)}
    revoked = CertificationRevoked(certificate_id="c-1", certificate_number="N", worker_id="w-1",
                                   occupation_code="electrician", level=5, class_id="class-1",
                                   reason="fraud", revoked_on=TODAY)
    assert evolve_certificates(certs, revoked) == {}
