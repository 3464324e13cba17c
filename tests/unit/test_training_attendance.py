from datetime import date

import pytest
from pydantic import ValidationError

from services.training.domain import attendance, class_run, institution
from services.training.domain.attendance import CompleteClass, RecordAttendance, VoidAttendance
from services.training.domain.class_run import ClassRun
from services.training.domain.institution import Institution
from services.training.domain.roster import Roster
from services.training.domain.roster import evolve as evolve_roster
from shared.contracts.enrolment import EnrolmentWithdrawn, WorkerEnrolled
from shared.contracts.training import (
    AttendanceRecorded,
    AttendanceVoided,
    ClassApproved,
    ClassCompleted,
)
from shared.runtime.errors import DomainError
from tests.unit.builders import CATALOGUE, accredit_command, fold, schedule_command

DAY1, DAY2 = date(2025, 7, 24), date(2025, 7, 25)
AFTER = date(2025, 7, 26)
ROSTER = frozenset({"w-1", "w-2"})


def scheduled_class() -> ClassRun:
    inst = fold(institution.evolve, Institution(), institution.accredit(
        accredit_command(), Institution(), catalogue=CATALOGUE, today=DAY1))
    return fold(class_run.evolve, ClassRun(), class_run.schedule(
        schedule_command(), ClassRun(), institution=inst, catalogue=CATALOGUE))


def approved_class() -> ClassRun:
    return fold(class_run.evolve, scheduled_class(),
                [ClassApproved(class_id="class-1", approved_on=DAY1)])


def attend(state: ClassRun, worker: str, session_id: str, minutes: int,
           attendance_id: str) -> ClassRun:
    cmd = RecordAttendance(class_id="class-1", session_id=session_id, worker_id=worker,
                           minutes=minutes, method="face_check")
    return fold(class_run.evolve, state,
                attendance.record(cmd, state, roster=ROSTER, attendance_id=attendance_id,
                                  today=AFTER))


def refused_record(state: ClassRun, *, worker="w-1", session_id="s001", minutes=60,
                   today=AFTER) -> str:
    cmd = RecordAttendance(class_id="class-1", session_id=session_id, worker_id=worker,
                           minutes=minutes, method="online_platform_log")
    with pytest.raises(DomainError) as err:
        attendance.record(cmd, state, roster=ROSTER, attendance_id="a-x", today=today)
    return err.value.code


def test_attendance_is_recorded_with_the_session_date_and_method():
    cmd = RecordAttendance(class_id="class-1", session_id="s002", worker_id="w-1", minutes=90,
                           method="on_the_job_sign_off")
    [event] = attendance.record(cmd, approved_class(), roster=ROSTER, attendance_id="a-1",
                                today=AFTER)
    assert event == AttendanceRecorded(attendance_id="a-1", class_id="class-1",
                                       session_id="s002", session_date=DAY2, worker_id="w-1",
                                       minutes=90, method="on_the_job_sign_off")


def test_the_full_session_length_is_allowed():
    assert attend(approved_class(), "w-1", "s001", 120, "a-1").live_attendance()


def test_minutes_never_exceed_the_session_length():
    assert refused_record(approved_class(), minutes=121) == "minutes_exceed_session"


def test_minutes_are_never_negative():
    with pytest.raises(ValidationError):
        RecordAttendance(class_id="c", session_id="s", worker_id="w", minutes=-1,
                         method="face_check")


def test_the_check_in_method_is_one_of_the_known_ones():
    with pytest.raises(ValidationError):
        RecordAttendance(class_id="c", session_id="s", worker_id="w", minutes=1,
                         method="signature")


def test_no_attendance_before_approval():
    assert refused_record(scheduled_class()) == "class_not_approved"


def test_no_attendance_in_an_unknown_class():
    assert refused_record(ClassRun()) == "class_unknown"


def test_no_attendance_at_an_unknown_session():
    assert refused_record(approved_class(), session_id="s999") == "session_unknown"


def test_no_attendance_for_a_session_not_held_yet():
    assert refused_record(approved_class(), session_id="s002", today=DAY1) == \
        "session_not_held_yet"


def test_only_enrolled_workers_attend():
    assert refused_record(approved_class(), worker="w-stranger") == "worker_not_enrolled"


def test_one_live_record_per_worker_and_session():
    state = attend(approved_class(), "w-1", "s001", 60, "a-1")
    assert refused_record(state) == "attendance_already_recorded"


def test_a_correction_voids_and_records_anew():
    state = attend(approved_class(), "w-1", "s001", 60, "a-1")
    [voided] = attendance.void(VoidAttendance(class_id="class-1", attendance_id="a-1",
                                              reason="wrong minutes"), state)
    assert isinstance(voided, AttendanceVoided)
    assert (voided.worker_id, voided.session_id, voided.session_date) == ("w-1", "s001", DAY1)
    state = fold(class_run.evolve, state, [voided])
    state = attend(state, "w-1", "s001", 110, "a-2")
    assert [a.minutes for a in state.live_attendance()] == [110]
    assert len(state.attendance) == 2  # the voided record is kept


def test_voiding_something_unknown_is_refused():
    with pytest.raises(DomainError) as err:
        attendance.void(VoidAttendance(class_id="class-1", attendance_id="nope", reason="x"),
                        approved_class())
    assert err.value.code == "attendance_unknown"


def test_a_record_is_voided_once():
    state = attend(approved_class(), "w-1", "s001", 60, "a-1")
    cmd = VoidAttendance(class_id="class-1", attendance_id="a-1", reason="x")
    state = fold(class_run.evolve, state, attendance.void(cmd, state))
    with pytest.raises(DomainError) as err:
        attendance.void(cmd, state)
    assert err.value.code == "attendance_already_voided"


def completed(state: ClassRun, roster=ROSTER, threshold: int = 80) -> ClassCompleted:
    [event] = attendance.complete(CompleteClass(class_id="class-1"), state, roster=roster,
                                  today=AFTER, threshold_percent=threshold)
    assert isinstance(event, ClassCompleted)
    return event


def test_completion_lists_every_enrolled_trainee_with_their_attendance():
    state = attend(approved_class(), "w-1", "s001", 120, "a-1")
    state = attend(state, "w-1", "s002", 100, "a-2")
    state = attend(state, "w-2", "s001", 120, "a-3")
    event = completed(state)
    by_worker = {t.worker_id: t for t in event.trainees}
    assert set(by_worker) == {"w-1", "w-2"}
    one, two = by_worker["w-1"], by_worker["w-2"]
    assert (one.attended_minutes, one.required_minutes) == (220, 240)
    assert one.attendance_ratio == 0.9167
    assert one.met_threshold
    assert one.days_attended == [DAY1, DAY2]
    assert (two.attended_minutes, two.attendance_ratio, two.met_threshold) == (120, 0.5, False)
    assert event.threshold_percent == 80
    assert event.first_session_date == DAY1
    assert (event.occupation_code, event.target_level, event.institution_id) == \
        ("electrician", 5, "inst-1")


def test_an_enrolled_trainee_who_never_came_is_listed_with_zero():
    [outcome] = completed(approved_class(), roster={"w-9"}).trainees
    assert (outcome.attended_minutes, outcome.met_threshold, outcome.days_attended) == \
        (0, False, [])


def test_exactly_the_threshold_meets_it_and_one_minute_less_does_not():
    state = attend(approved_class(), "w-1", "s001", 120, "a-1")
    state = attend(state, "w-1", "s002", 72, "a-2")  # 192 / 240 = 80 %
    state = attend(state, "w-2", "s001", 120, "a-3")
    state = attend(state, "w-2", "s002", 71, "a-4")  # 191 / 240
    outcomes = {t.worker_id: t.met_threshold for t in completed(state).trainees}
    assert outcomes == {"w-1": True, "w-2": False}


def test_the_threshold_is_a_parameter():
    state = attend(approved_class(), "w-1", "s001", 120, "a-1")
    outcomes = {t.worker_id: t.met_threshold for t in completed(state, threshold=50).trainees}
    assert outcomes["w-1"]
    assert attendance.DEFAULT_THRESHOLD_PERCENT == 80


def test_voided_attendance_does_not_count_at_completion():
    state = attend(approved_class(), "w-1", "s001", 120, "a-1")
    state = fold(class_run.evolve, state, attendance.void(
        VoidAttendance(class_id="class-1", attendance_id="a-1", reason="proxy"), state))
    [one] = [t for t in completed(state).trainees if t.worker_id == "w-1"]
    assert (one.attended_minutes, one.days_attended) == (0, [])


def test_a_class_is_not_completed_before_its_last_session():
    with pytest.raises(DomainError) as err:
        attendance.complete(CompleteClass(class_id="class-1"), approved_class(), roster=ROSTER,
                            today=DAY1)
    assert err.value.code == "class_not_finished"


def test_an_unapproved_class_is_not_completed():
    with pytest.raises(DomainError) as err:
        attendance.complete(CompleteClass(class_id="class-1"), scheduled_class(), roster=ROSTER,
                            today=AFTER)
    assert err.value.code == "class_not_approved"


def test_a_completed_class_takes_no_more_attendance_and_is_not_completed_twice():
    state = fold(class_run.evolve, approved_class(), [completed(approved_class())])
    assert refused_record(state) == "class_already_completed"
    with pytest.raises(DomainError) as err:
        attendance.complete(CompleteClass(class_id="class-1"), state, roster=ROSTER, today=AFTER)
    assert err.value.code == "class_already_completed"
    with pytest.raises(DomainError) as err:
        attendance.void(VoidAttendance(class_id="class-1", attendance_id="a", reason="x"), state)
    assert err.value.code == "class_already_completed"


def test_the_roster_follows_enrolments_and_withdrawals():
    enrolled = WorkerEnrolled(enrolment_id="e-1", worker_id="w-1", class_id="class-1",
                              occupation_code="electrician", target_level=5, enrolled_on=DAY1)
    elsewhere = enrolled.model_copy(update={"enrolment_id": "e-2", "class_id": "class-2"})
    roster = fold(evolve_roster, Roster("class-1"), [enrolled, elsewhere])
    assert roster.worker_ids == {"w-1"}
    withdrawn = EnrolmentWithdrawn(enrolment_id="e-1", worker_id="w-1", class_id="class-1",
                                   reason="moved", withdrawn_on=DAY1)
    assert fold(evolve_roster, roster, [withdrawn]).worker_ids == set()



# -- bounds: what a class's events carry can never outgrow a broker message ----------------

def test_a_trainee_s_attendance_records_are_bounded_corrections_included():
    from dataclasses import replace

    from services.training.domain.class_run import AttendanceEntry
    from shared.contracts.bounds import MAX_ATTENDANCE_RECORDS

    state = approved_class()
    entries = {f"a-{i}": AttendanceEntry(attendance_id=f"a-{i}", session_id="s001",
                                         session_date=DAY1, worker_id="w-1", minutes=0,
                                         voided=True)
               for i in range(MAX_ATTENDANCE_RECORDS)}
    assert refused_record(replace(state, attendance=entries)) == "too_many_attendance_records"
    fewer = dict(list(entries.items())[1:])
    cmd = RecordAttendance(class_id="class-1", session_id="s001", worker_id="w-1", minutes=60,
                           method="face_check")
    assert attendance.record(cmd, replace(state, attendance=fewer), roster=ROSTER,
                             attendance_id="a-new", today=AFTER)
    # another trainee's records do not count against this one
    other = cmd.model_copy(update={"worker_id": "w-2"})
    assert attendance.record(other, replace(state, attendance=entries), roster=ROSTER,
                             attendance_id="a-w2", today=AFTER)


def test_a_roster_beyond_a_class_s_size_cannot_complete_it():
    from shared.contracts.bounds import MAX_CLASS_SIZE

    roster = frozenset(f"w-{i}" for i in range(MAX_CLASS_SIZE + 1))
    with pytest.raises(DomainError) as err:
        attendance.complete(CompleteClass(class_id="class-1"), approved_class(),
                            roster=roster, today=AFTER)
    assert err.value.code == "roster_too_large"
