"""Every notification rule: who is told what, from when, and what they are never told."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time, timedelta

from services.notifications.domain import rules
from services.notifications.domain.model import (
    SHANGHAI,
    Kind,
    Planned,
    Recipient,
    resolve_gender,
    station_key,
)
from tests.unit.notifications import events as ev


def kinds(planned: list[Planned]) -> list[tuple[str, str, str]]:
    return [(p.recipient.id, p.kind.value, p.ref) for p in planned]


def test_enrolment_confirms_to_the_worker_and_asks_the_womens_federation_conditionally():
    planned = rules.on_worker_enrolled(ev.enrolled(), ev.AT, scheduled=None)
    assert kinds(planned) == [("w-1", "enrolment_confirmed", ""),
                              ("womens_federation", "womens_followup_enrolled", "w-1")]
    confirm, women = planned
    assert confirm.recipient == Recipient.worker("w-1") and not confirm.urgent
    assert confirm.not_before == ev.AT
    assert confirm.params["class_id"] == "c-elec" and confirm.params["level"] == 5
    assert women.only_if_female == "w-1" and confirm.only_if_female is None


def test_enrolment_into_a_known_night_class_sends_schedule_and_a_reminder_per_session():
    planned = rules.on_worker_enrolled(ev.enrolled(), ev.AT, scheduled=ev.scheduled("night"))
    assert kinds(planned)[2:] == [("w-1", "class_schedule", "c-elec"),
                                  ("w-1", "session_reminder", "c-elec/s1"),
                                  ("w-1", "session_reminder", "c-elec/s2")]
    schedule = planned[2]
    assert [s["date"] for s in schedule.params["sessions"]] == ["2025-07-24", "2025-07-25"]
    assert schedule.params["first_date"] == "2025-07-24"
    reminder = planned[3]
    assert reminder.not_before == datetime(2025, 7, 23, 12, 0, tzinfo=SHANGHAI)
    assert reminder.expires_at == datetime(2025, 7, 24, 19, 30, tzinfo=SHANGHAI)
    assert reminder.params["start"] == "19:30" and reminder.params["date"] == "2025-07-24"


def test_weekend_classes_are_reminded_and_full_time_classes_are_not():
    weekend = rules.schedule_for("w-1", ev.scheduled("weekend"), ev.AT)
    full_time = rules.schedule_for("w-1", ev.scheduled("full_time"), ev.AT)
    assert [p.kind for p in weekend].count(Kind.SESSION_REMINDER) == 2
    assert [p.kind for p in full_time] == [Kind.CLASS_SCHEDULE]


def test_no_reminder_for_a_session_that_started_before_the_enrolment_was_heard_of():
    late = datetime(2025, 7, 24, 20, 0, tzinfo=SHANGHAI)  # session 1 started at 19:30
    planned = rules.schedule_for("w-1", ev.scheduled("night"), late)
    assert [p.ref for p in planned if p.kind == Kind.SESSION_REMINDER] == ["c-elec/s2"]
    # the day-before moment has passed: send from now
    assert planned[-1].not_before == late


def test_reminder_times_are_noon_the_day_before_until_the_start():
    send_from, expires = rules.reminder_times(date(2025, 8, 2), time(8, 0))
    assert send_from == datetime(2025, 8, 1, 12, 0, tzinfo=SHANGHAI)
    assert expires - send_from == timedelta(hours=20)


def test_a_class_scheduled_after_enrolments_sends_each_enrolled_worker_the_schedule():
    planned = rules.on_class_scheduled(ev.scheduled("full_time"), ev.AT, ["w-2", "w-1", "w-2"])
    assert kinds(planned) == [("w-1", "class_schedule", "c-elec"),
                              ("w-2", "class_schedule", "c-elec")]


def test_certificate_tells_the_worker_the_union_and_conditionally_the_womens_federation():
    planned = rules.on_skill_level_certified(ev.certified(), ev.AT)
    assert kinds(planned) == [("w-1", "certificate_issued", ""),
                              ("trade_union", "union_newly_certified", "cert-w-1"),
                              ("womens_federation", "womens_followup_certified", "cert-w-1")]
    assert [p.only_if_female for p in planned] == [None, None, "w-1"]
    assert planned[1].params["certificate_number"] == "YN-2025-000123"


def test_class_completion_summary_goes_to_the_station_of_the_site():
    planned = rules.on_class_completed(
        ev.completed(("w-1", 0.9, True), ("w-2", 0.5, False), ("w-3", 0.8, True)), ev.AT)
    summary = planned[0]
    assert summary.recipient == Recipient.department(station_key("新疆", "阜康市"))
    assert summary.kind == Kind.STATION_CLASS_COMPLETED
    assert (summary.params["trainees"], summary.params["met_threshold"],
            summary.params["below_threshold"]) == (3, 2, 1)


def test_class_completion_tells_the_womens_federation_of_each_woman_once_her_gender_is_known():
    """One notice per trainee, each decided by that trainee's gender when it is known (the
    completion may arrive before the registrations: the notice then waits, not vanishes)."""
    planned = rules.on_class_completed(
        ev.completed(("w-1", 0.9, True), ("w-2", 0.5, False), ("w-3", 0.8125, True)), ev.AT)
    followups = planned[1:]
    assert all(p.recipient.id == "womens_federation" for p in followups)
    assert [(p.only_if_female, p.ref, p.params["percent"], p.params["met_threshold"])
            for p in followups] == [("w-1", "c-elec/w-1", "90", True),
                                    ("w-2", "c-elec/w-2", "50", False),
                                    ("w-3", "c-elec/w-3", "81.2", True)]
    genders = {"w-1": "male", "w-2": "female", "w-3": None}
    assert [resolve_gender(p, genders[p.worker_id or ""]) for p in followups] == [
        None, followups[1], "wait"]


def test_subsidy_paid_sums_each_workers_paid_lines_and_skips_rejected_and_institutions():
    planned = rules.on_payment_confirmed(ev.confirmed(), ev.items(), ev.AT)
    assert [(p.recipient.id, p.params["amount_fen"], p.params["lines"]) for p in planned] == [
        ("w-1", 100050, 2), ("w-2", 88000, 1)]
    assert all(p.kind == Kind.SUBSIDY_PAID for p in planned)
    rejected = rules.on_payment_confirmed(ev.confirmed(failed=["l3", "l2"]), ev.items(), ev.AT)
    assert [(p.recipient.id, p.params["amount_fen"]) for p in rejected] == [("w-1", 96000)]


def test_objection_is_urgent_for_the_hr_bureau():
    [planned] = rules.on_objection_raised(ev.objection(), ev.AT)
    assert planned.recipient == Recipient.department("hr_bureau")
    assert planned.urgent and planned.kind == Kind.HR_OBJECTION_RAISED
    assert planned.params["ground"] == "not_attended" and planned.ref == "o-1"


def test_gender_decides_womens_notices_and_unknown_waits():
    women = rules.on_worker_enrolled(ev.enrolled(), ev.AT, None)[1]
    assert resolve_gender(women, "female") is women
    assert resolve_gender(women, "male") is None
    assert resolve_gender(women, None) == "wait"
    confirm = rules.on_worker_enrolled(ev.enrolled(), ev.AT, None)[0]
    assert resolve_gender(confirm, None) is confirm


def test_no_rule_puts_personal_data_in_parameters():
    planned = [
        *rules.on_worker_enrolled(ev.enrolled(), ev.AT, ev.scheduled()),
        *rules.on_skill_level_certified(ev.certified(), ev.AT),
        *rules.on_class_completed(ev.completed(("w-1", 1.0, True)), ev.AT),
        *rules.on_payment_confirmed(ev.confirmed(), ev.items(), ev.AT),
        *rules.on_objection_raised(ev.objection(), ev.AT),
        *rules.on_worker_referred(ev.referred(), ev.AT),
        *rules.on_worker_placed(ev.placed(), ev.AT),
        *rules.on_referral_declined(ev.declined(), ev.AT),
        *rules.on_business_guidance_requested(ev.guidance_requested(), ev.AT),
    ]
    forbidden = {"name", "mobile", "phone", "national_id", "email", "address"}
    for p in planned:
        assert not forbidden & set(p.params), p.kind
        json.dumps(dict(p.params))  # storable as jsonb as is
        assert p.not_before.tzinfo is not None


def test_a_schedule_notice_is_about_the_schedule_whichever_event_came_last() -> None:
    """Sent when the enrolment arrives after the schedule, or the schedule after the
    enrolment: the same notice (same source, so enqueued once), about the ClassScheduled."""
    schedule_event = (uuid.UUID(int=7), "songji.training.ClassScheduled.v1")
    after_enrolment = [p for p in rules.on_worker_enrolled(
        ev.enrolled(), ev.AT, ev.scheduled("night"), schedule_event)
        if p.kind in (Kind.CLASS_SCHEDULE, Kind.SESSION_REMINDER)]
    assert after_enrolment and {p.about for p in after_enrolment} == {schedule_event}
    after_schedule = rules.on_class_scheduled(ev.scheduled("night"), ev.AT,
                                              [ev.enrolled().worker_id])
    assert {p.about for p in after_schedule} == {None}  # the handled event is the schedule
    assert [(p.kind, p.ref) for p in after_schedule] == \
        [(p.kind, p.ref) for p in after_enrolment]


def test_a_referral_tells_the_worker_at_once() -> None:
    assert kinds(rules.on_worker_referred(ev.referred(), ev.AT)) == \
        [("w-1", "referral_made", "r-w-1")]


def test_a_placement_tells_the_union_and_plans_each_follow_up_for_worker_and_station() -> None:
    planned = rules.on_worker_placed(ev.placed(starts_on=date(2025, 8, 31)), ev.AT)
    station = station_key("新疆", "阜康市")
    assert kinds(planned) == [
        ("trade_union", "union_newly_placed", "r-w-1"),
        ("womens_federation", "womens_followup_placed", "r-w-1"),
        ("w-1", "follow_up_reminder", "r-w-1/1"), (station, "station_follow_up_due", "r-w-1/1"),
        ("w-1", "follow_up_reminder", "r-w-1/3"), (station, "station_follow_up_due", "r-w-1/3"),
        ("w-1", "follow_up_reminder", "r-w-1/6"), (station, "station_follow_up_due", "r-w-1/6"),
    ]
    assert planned[1].only_if_female == "w-1"
    # due a month, three and six after the start (the month's last day when it is shorter),
    # at noon in China
    assert [p.not_before for p in planned[2::2]] == [
        datetime(2025, 9, 30, 12, 0, tzinfo=SHANGHAI),
        datetime(2025, 11, 30, 12, 0, tzinfo=SHANGHAI),
        datetime(2026, 2, 28, 12, 0, tzinfo=SHANGHAI)]
    assert planned[3].params["due_on"] == "2025-09-30"
    assert "worker_id" not in planned[2].params  # the worker's own reminder


def test_a_woman_not_hired_goes_on_the_womens_federations_list() -> None:
    [planned] = rules.on_referral_declined(ev.declined(), ev.AT)
    assert (planned.recipient.id, planned.kind, planned.only_if_female) == \
        ("womens_federation", Kind.WOMENS_FOLLOWUP_NOT_PLACED, "w-2")
