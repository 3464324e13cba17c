from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from services.training.domain import class_run, institution
from services.training.domain.class_run import (
    ApproveClass,
    ClassRun,
    session_bounds,
    session_minutes,
)
from services.training.domain.decide import ClassGiven, decide_class
from services.training.domain.institution import Institution, SuspendInstitution
from shared.contracts.training import ClassApproved, ClassScheduled
from shared.runtime.errors import DomainError
from tests.unit.builders import (
    CATALOGUE,
    PUTUO,
    accredit_command,
    fold,
    schedule_command,
    session,
)

TODAY = date(2025, 7, 1)


def accredited() -> Institution:
    return fold(institution.evolve, Institution(),
                institution.accredit(accredit_command(), Institution(), catalogue=CATALOGUE,
                                     today=TODAY))


def suspended() -> Institution:
    state = accredited()
    return fold(institution.evolve, state, institution.suspend(
        SuspendInstitution(institution_id="inst-1", reason="x"), state, today=TODAY))


def scheduled() -> ClassRun:
    return fold(class_run.evolve, ClassRun(),
                class_run.schedule(schedule_command(), ClassRun(), institution=accredited(),
                                   catalogue=CATALOGUE))


def refused(cmd=None, inst=None) -> str:
    with pytest.raises(DomainError) as err:
        class_run.schedule(cmd or schedule_command(), ClassRun(),
                           institution=inst or accredited(), catalogue=CATALOGUE)
    return err.value.code


def test_scheduling_derives_minutes_and_ids_from_sessions():
    [event] = class_run.schedule(schedule_command(), ClassRun(), institution=accredited(),
                                 catalogue=CATALOGUE)
    assert isinstance(event, ClassScheduled)
    assert [s.session_id for s in event.sessions] == ["s001", "s002"]
    assert [s.minutes for s in event.sessions] == [120, 120]
    assert event.trainer_ids == ["trainer-1"]


def test_sessions_are_put_in_time_order():
    cmd = schedule_command(sessions=[session(date(2025, 7, 26)), session(date(2025, 7, 24))])
    [event] = class_run.schedule(cmd, ClassRun(), institution=accredited(), catalogue=CATALOGUE)
    assert [s.date for s in event.sessions] == [date(2025, 7, 24), date(2025, 7, 26)]


def test_session_times_are_local_to_shanghai():
    evening = session(date(2025, 7, 24), "19:00", "21:00")
    start, end = session_bounds(evening.date, evening.start_local, evening.end_local)
    assert start.utcoffset() is not None
    assert start.astimezone(UTC) == datetime(2025, 7, 24, 11, 0, tzinfo=UTC)
    assert (end - start).total_seconds() == 7200


def test_a_session_must_end_after_it_starts():
    s = session(date(2025, 7, 24), "21:00", "19:00")
    with pytest.raises(DomainError) as err:
        session_minutes(s.date, s.start_local, s.end_local)
    assert err.value.code == "session_ends_before_it_starts"
    assert refused(schedule_command(sessions=[s])) == "session_ends_before_it_starts"


def test_sessions_on_the_same_day_must_not_overlap():
    day = date(2025, 7, 26)
    cmd = schedule_command(sessions=[session(day, "09:00", "12:00"),
                                     session(day, "11:00", "13:00")])
    assert refused(cmd) == "sessions_overlap"


def test_back_to_back_sessions_are_fine():
    day = date(2025, 7, 26)
    cmd = schedule_command(sessions=[session(day, "09:00", "12:00"),
                                     session(day, "12:00", "13:00")])
    assert class_run.schedule(cmd, ClassRun(), institution=accredited(), catalogue=CATALOGUE)


def test_required_minutes_cannot_exceed_the_sessions():
    assert refused(schedule_command(required_minutes=241)) == "required_minutes_exceed_sessions"


def test_a_class_is_scheduled_once():
    with pytest.raises(DomainError) as err:
        class_run.schedule(schedule_command(), scheduled(), institution=accredited(),
                           catalogue=CATALOGUE)
    assert err.value.code == "class_already_scheduled"


def test_an_unknown_institution_cannot_schedule():
    assert refused(inst=Institution()) == "institution_unknown"


def test_a_suspended_institution_cannot_open_a_class():
    assert refused(inst=suspended()) == "institution_suspended"


def test_the_occupation_must_be_in_the_catalogue():
    assert refused(schedule_command(occupation_code="astronaut")) == "occupation_not_in_catalogue"


def test_the_level_must_be_offered_by_the_catalogue():
    assert refused(schedule_command(occupation_code="crop_protection_worker",
                                    target_level=1)) == "level_not_offered"


def test_the_institution_must_be_accredited_for_the_occupation():
    assert refused(schedule_command(occupation_code="welder")) == "occupation_not_in_scope"


def test_the_institution_must_be_accredited_for_the_site():
    assert refused(schedule_command(site=PUTUO)) == "site_not_in_scope"


def test_malformed_schedule_is_rejected_by_the_command_model():
    with pytest.raises(ValidationError):
        schedule_command(capacity=0)
    with pytest.raises(ValidationError):
        schedule_command(sessions=[])
    with pytest.raises(ValidationError):
        schedule_command(mode="sometimes")


def test_the_hr_bureau_approves_a_scheduled_class():
    [event] = class_run.approve(ApproveClass(class_id="class-1"), scheduled(),
                                institution=accredited(), today=TODAY)
    assert event == ClassApproved(class_id="class-1", approved_on=TODAY)
    assert fold(class_run.evolve, scheduled(), [event]).approved


def test_an_unknown_class_cannot_be_approved():
    with pytest.raises(DomainError) as err:
        class_run.approve(ApproveClass(class_id="x"), ClassRun(), institution=accredited(),
                          today=TODAY)
    assert err.value.code == "class_unknown"


def test_a_class_is_approved_once():
    state = fold(class_run.evolve, scheduled(), [ClassApproved(class_id="class-1",
                                                               approved_on=TODAY)])
    with pytest.raises(DomainError) as err:
        class_run.approve(ApproveClass(class_id="class-1"), state, institution=accredited(),
                          today=TODAY)
    assert err.value.code == "class_already_approved"


def test_a_class_of_an_institution_suspended_since_scheduling_is_not_approved():
    with pytest.raises(DomainError) as err:
        class_run.approve(ApproveClass(class_id="class-1"), scheduled(), institution=suspended(),
                          today=TODAY)
    assert err.value.code == "institution_suspended"


def test_decide_routes_class_commands():
    events = decide_class(schedule_command(), ClassRun(),
                          ClassGiven(today=date(2025, 7, 1), catalogue=CATALOGUE,
                                     institution=accredited()))
    assert isinstance(events[0], ClassScheduled)


def test_a_schedule_spans_a_bounded_number_of_days():
    from datetime import timedelta

    from shared.contracts.bounds import MAX_CLASS_DAYS
    from tests.unit.builders import session

    first = date(2025, 1, 1)
    many = [session(first + timedelta(days=i)) for i in range(MAX_CLASS_DAYS + 1)]
    with pytest.raises(ValidationError, match="at most 250"):
        schedule_command(sessions=many)
    twice_a_day = [session(first + timedelta(days=i), start, end)
                   for i in range(MAX_CLASS_DAYS) for start, end in (("09:00", "11:00"),
                                                                     ("14:00", "16:00"))]
    assert len(schedule_command(sessions=twice_a_day).sessions) == 2 * MAX_CLASS_DAYS
