"""Learning events as xAPI statements (services/notifications/xapi/statements.py), and how
the LRS sender judges an answer."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from services.notifications.xapi import statements as xs
from services.notifications.xapi.lrs import judge, retry_delay
from shared.contracts.assessment import AssessmentResultRecorded, SkillLevelCertified
from shared.contracts.enrolment import WorkerEnrolled
from shared.contracts.training import AttendanceRecorded, ClassCompleted, TraineeOutcome
from tests.orgs import FUKANG

HOME = "https://songji.example.org"
P = xs.Programme(HOME + "/")
AT = datetime(2025, 7, 24, 22, 5, tzinfo=UTC)
EVENT = uuid.UUID("0b6a8f0e-3c1d-4f5a-9e2b-7d4c1a0f9e11")
ADL = "http://adlnet.gov/expapi/verbs/"


def test_the_actor_is_a_pseudonymous_account_and_the_id_comes_from_the_event() -> None:
    planned = xs.enrolled(P, EVENT, AT, WorkerEnrolled(
        enrolment_id="e-1", worker_id="w-1", class_id="c-1", occupation_code="electrician",
        target_level=4, enrolled_on=date(2025, 7, 20)))
    statement = planned.statement
    assert statement["actor"] == {"objectType": "Agent",
                                  "account": {"homePage": HOME, "name": "w-1"}}
    assert statement["verb"]["id"] == ADL + "registered"
    assert planned.statement_id == uuid.uuid5(xs.STATEMENT_NAMESPACE, str(EVENT))
    assert statement["id"] == str(planned.statement_id)
    assert statement["timestamp"] == "2025-07-24T22:05:00+00:00"
    extensions = statement["context"]["extensions"]
    assert extensions == {f"{HOME}/xapi/extensions/class": "c-1",
                          f"{HOME}/xapi/extensions/occupation": "electrician",
                          f"{HOME}/xapi/extensions/level": 4}
    # the same event makes the same statement
    assert xs.enrolled(P, EVENT, AT, WorkerEnrolled(
        enrolment_id="e-1", worker_id="w-1", class_id="c-1", occupation_code="electrician",
        target_level=4, enrolled_on=date(2025, 7, 20))) == planned


def test_attendance_has_the_session_the_minutes_and_the_class_as_parent() -> None:
    planned = xs.attended(P, EVENT, AT, AttendanceRecorded(
        attendance_id="a-1", class_id="c-1", session_id="s-3", session_date=date(2025, 7, 24),
        worker_id="w-1", minutes=150, method="face_check"), xs.Facts("c-1", "electrician", 4))
    statement = planned.statement
    assert statement["verb"]["id"] == ADL + "attended"
    assert statement["object"]["id"] == f"{HOME}/classes/c-1/sessions/s-3"
    assert statement["result"] == {"completion": True, "duration": "PT150M"}
    assert statement["context"]["contextActivities"]["parent"][0]["id"] == f"{HOME}/classes/c-1"
    assert planned.ref == "attendance:a-1"


def test_completion_is_one_statement_per_trainee_who_met_the_threshold() -> None:
    outcome = {"required_minutes": 1000, "days_attended": []}
    event = ClassCompleted(
        class_id="c-1", institution_id="inst-1", occupation_code="electrician", target_level=4,
        site=FUKANG, first_session_date=date(2025, 7, 1), completed_on=date(2025, 7, 24),
        threshold_percent=80, trainees=[
            TraineeOutcome(worker_id="w-1", attended_minutes=900, attendance_ratio=0.9,
                           met_threshold=True, **outcome),
            TraineeOutcome(worker_id="w-2", attended_minutes=500, attendance_ratio=0.5,
                           met_threshold=False, **outcome)])
    [planned] = xs.completed(P, EVENT, AT, event)
    assert planned.statement["actor"]["account"]["name"] == "w-1"
    assert planned.statement_id == uuid.uuid5(xs.STATEMENT_NAMESPACE, f"{EVENT}/w-1")
    assert planned.statement["result"]["score"] == {"scaled": 0.9}


def test_a_result_carries_both_scores_and_passed_or_failed() -> None:
    def result(theory: int, practical: int, passed: bool) -> xs.Statement:
        return xs.assessed(P, EVENT, AT, AssessmentResultRecorded(
            result_id="r-1", assessment_id="as-1", worker_id="w-1", theory_score=theory,
            practical_score=practical, passed=passed), xs.Facts("c-1", "electrician", 4)
        ).statement

    passed = result(70, 90, True)
    assert passed["verb"]["id"] == ADL + "passed"
    assert passed["result"]["success"] is True
    assert passed["result"]["score"] == {"raw": 80, "min": 0, "max": 100, "scaled": 0.8}
    assert passed["result"]["extensions"] == {f"{HOME}/xapi/extensions/theory-score": 70,
                                              f"{HOME}/xapi/extensions/practical-score": 90}
    failed = result(55, 90, False)
    assert failed["verb"]["id"] == ADL + "failed"
    assert failed["result"]["success"] is False


def test_certification_is_mastery_of_the_skill_level_and_voiding_names_the_statement() -> None:
    planned = xs.certified(P, EVENT, AT, SkillLevelCertified(
        certificate_id="cert-1", certificate_number="N-1", worker_id="w-1",
        occupation_code="electrician", level=4, body_id="b-1", assessment_id="as-1",
        class_id="c-1", certified_on=date(2025, 7, 30)))
    assert planned.statement["verb"]["id"] == ADL + "mastered"
    assert planned.statement["object"]["id"] == f"{HOME}/occupations/electrician/levels/4"
    voiding = xs.voiding(P, uuid.uuid4(), AT, planned.statement_id).statement
    assert voiding["verb"]["id"] == ADL + "voided"
    assert voiding["object"] == {"objectType": "StatementRef",
                                 "id": str(planned.statement_id)}


def test_stored_statements_get_the_configured_home_page_when_sent() -> None:
    stored = xs.attended(xs.Programme(xs.PROGRAMME), EVENT, AT, AttendanceRecorded(
        attendance_id="a-1", class_id="c-1", session_id="s-3", session_date=date(2025, 7, 24),
        worker_id="w-1", minutes=150, method="face_check"), xs.Facts("c-1", None, None))
    assert xs.with_home_page(stored.statement, HOME + "/") == xs.attended(
        P, EVENT, AT, AttendanceRecorded(
            attendance_id="a-1", class_id="c-1", session_id="s-3",
            session_date=date(2025, 7, 24), worker_id="w-1", minutes=150,
            method="face_check"), xs.Facts("c-1", None, None)).statement
    assert xs.PROGRAMME not in str(xs.with_home_page(stored.statement, HOME))


def test_the_sender_retries_what_may_pass_later_and_fails_what_the_lrs_refuses() -> None:
    assert judge(200).error is None and judge(204).error is None
    for status in (500, 503, 401, 403, 408, 429):
        assert judge(status).retry, status
    assert judge(None, "timeout").retry
    for status in (400, 404, 409, 413):
        answer = judge(status)
        assert answer.error == f"status:{status}" and not answer.retry
    waits = [retry_delay(n, first_seconds=1, cap_seconds=300) for n in range(1, 12)]
    assert waits[:4] == [timedelta(seconds=s) for s in (1, 2, 4, 8)]
    assert waits[-1] == timedelta(seconds=300)
