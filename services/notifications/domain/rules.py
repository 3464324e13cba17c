"""Who is told what, and from when: pure functions from consumed events to planned notices.

Each rule gets the event, the moment it happened (``at``, the CloudEvent time) and whatever
facts it needs that the handler looked up; it returns the notices to enqueue. ``at`` is the
earliest send time: a notice consumed late is sent as soon as the sender sees it, except a
session reminder whose session has already started (it expires).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from services.notifications.domain.model import (
    HR_BUREAU,
    SHANGHAI,
    TRADE_UNION,
    WOMENS_FEDERATION,
    Kind,
    Planned,
    Recipient,
    station_key,
)
from shared.contracts.assessment import SkillLevelCertified
from shared.contracts.common import WorkSite
from shared.contracts.employment import (
    BusinessGuidanceRequested,
    ReferralDeclined,
    WorkerPlaced,
    WorkerReferred,
)
from shared.contracts.enrolment import WorkerEnrolled
from shared.contracts.funding import ObjectionRaised, PaymentConfirmed, PaymentItem
from shared.contracts.training import ClassCompleted, ClassScheduled, SessionPlan

# Follow-up notices go out at noon on the day the follow-up falls due.
FOLLOW_UP_LOCAL_TIME = time(12, 0)
FOLLOW_UP_MONTHS = (1, 3, 6)

# Reminders go out at noon the day before: late enough to be fresh, early enough for a worker
# to swap a shift. A contact window may move them later that day.
REMINDER_LOCAL_TIME = time(12, 0)
REMINDED_MODES = frozenset({"night", "weekend"})


def site_label(site: WorkSite) -> str:
    return f"{site.province} {site.city} {site.site_name}"


def _department(key: str) -> Recipient:
    return Recipient.department(key)


def on_worker_enrolled(event: WorkerEnrolled, at: datetime,
                       scheduled: ClassScheduled | None,
                       scheduled_event: tuple[UUID, str] | None = None) -> list[Planned]:
    """Confirm the enrolment; send the schedule now if the class is known (else when it is);
    put a woman on the women's federation's follow-up list."""
    worker = Recipient.worker(event.worker_id)
    base = {"class_id": event.class_id, "occupation_code": event.occupation_code,
            "level": event.target_level}
    planned = [
        Planned(worker, Kind.ENROLMENT_CONFIRMED,
                {**base, "enrolled_on": event.enrolled_on.isoformat()}, at,
                worker_id=event.worker_id, class_id=event.class_id),
        Planned(_department(WOMENS_FEDERATION), Kind.WOMENS_FOLLOWUP_ENROLLED,
                {**base, "worker_id": event.worker_id,
                 "enrolled_on": event.enrolled_on.isoformat()}, at,
                ref=event.worker_id, worker_id=event.worker_id, class_id=event.class_id,
                only_if_female=event.worker_id),
    ]
    if scheduled is not None:
        planned += schedule_for(event.worker_id, scheduled, at, about=scheduled_event)
    return planned


def on_class_scheduled(event: ClassScheduled, at: datetime,
                       enrolled_worker_ids: Iterable[str]) -> list[Planned]:
    """Workers who enrolled before the class's schedule reached us get it now."""
    return [p for worker_id in sorted(set(enrolled_worker_ids))
            for p in schedule_for(worker_id, event, at)]


def _sessions(scheduled: ClassScheduled) -> list[SessionPlan]:
    return sorted(scheduled.sessions, key=lambda s: (s.date, s.start_local, s.session_id))


def schedule_for(worker_id: str, scheduled: ClassScheduled, at: datetime,
                 about: tuple[UUID, str] | None = None) -> list[Planned]:
    """The class schedule, and for night and weekend classes a reminder before each session;
    ``about``: the ClassScheduled event (id, type), when another event is being handled."""
    worker = Recipient.worker(worker_id)
    sessions = _sessions(scheduled)
    params = {
        "class_id": scheduled.class_id,
        "occupation_code": scheduled.occupation_code,
        "level": scheduled.target_level,
        "mode": scheduled.mode,
        "site": site_label(scheduled.site),
        "first_date": sessions[0].date.isoformat(),
        "last_date": sessions[-1].date.isoformat(),
        "sessions": [{"date": s.date.isoformat(), "start": s.start_local.strftime("%H:%M"),
                      "end": s.end_local.strftime("%H:%M"), "kind": s.kind} for s in sessions],
    }
    planned = [Planned(worker, Kind.CLASS_SCHEDULE, params, at, ref=scheduled.class_id,
                       worker_id=worker_id, class_id=scheduled.class_id, about=about)]
    if scheduled.mode in REMINDED_MODES:
        planned += [replace(r, about=about) for s in sessions
                    if (r := _reminder(worker_id, scheduled, s, at)) is not None]
    return planned


def reminder_times(session_date: date, start_local: time) -> tuple[datetime, datetime]:
    """(send from, expires at) of the reminder for a session: noon the day before, until the
    session starts."""
    send_from = datetime.combine(session_date - timedelta(days=1), REMINDER_LOCAL_TIME, SHANGHAI)
    return send_from, datetime.combine(session_date, start_local, SHANGHAI)


def _reminder(worker_id: str, scheduled: ClassScheduled, session: SessionPlan,
              at: datetime) -> Planned | None:
    send_from, starts = reminder_times(session.date, session.start_local)
    if starts <= at:
        return None  # the session had started before we heard of the enrolment
    params = {"class_id": scheduled.class_id, "occupation_code": scheduled.occupation_code,
              "mode": scheduled.mode, "site": site_label(scheduled.site),
              "session_id": session.session_id, "date": session.date.isoformat(),
              "start": session.start_local.strftime("%H:%M"),
              "end": session.end_local.strftime("%H:%M"), "session_kind": session.kind}
    return Planned(Recipient.worker(worker_id), Kind.SESSION_REMINDER, params,
                   max(send_from, at), ref=f"{scheduled.class_id}/{session.session_id}",
                   expires_at=starts, worker_id=worker_id, class_id=scheduled.class_id)


def on_skill_level_certified(event: SkillLevelCertified, at: datetime) -> list[Planned]:
    """The worker hears of the certificate; the trade union of a newly certified worker (for
    skills competitions); the women's federation, for a woman."""
    params = {"worker_id": event.worker_id, "occupation_code": event.occupation_code,
              "level": event.level, "certificate_number": event.certificate_number,
              "certified_on": event.certified_on.isoformat(), "class_id": event.class_id}
    return [
        Planned(Recipient.worker(event.worker_id), Kind.CERTIFICATE_ISSUED, params, at,
                worker_id=event.worker_id, class_id=event.class_id),
        Planned(_department(TRADE_UNION), Kind.UNION_NEWLY_CERTIFIED, params, at,
                ref=event.certificate_id, worker_id=event.worker_id, class_id=event.class_id),
        Planned(_department(WOMENS_FEDERATION), Kind.WOMENS_FOLLOWUP_CERTIFIED, params, at,
                ref=event.certificate_id, worker_id=event.worker_id, class_id=event.class_id,
                only_if_female=event.worker_id),
    ]


def _percent(ratio: float) -> str:
    return f"{round(ratio * 100, 1):g}"


def on_class_completed(event: ClassCompleted, at: datetime) -> list[Planned]:
    """A summary for the liaison station of the class's site; each woman trainee's outcome
    for the women's federation, one notice each, which waits for her registration like every
    women's-federation notice (topics are not ordered together: the completion may come
    first) and is dropped for a man."""
    met = sum(1 for t in event.trainees if t.met_threshold)
    common = {"class_id": event.class_id, "occupation_code": event.occupation_code,
              "level": event.target_level, "site": site_label(event.site),
              "completed_on": event.completed_on.isoformat(),
              "threshold_percent": event.threshold_percent}
    planned = [Planned(
        _department(station_key(event.site.province, event.site.city)),
        Kind.STATION_CLASS_COMPLETED,
        {**common, "trainees": len(event.trainees), "met_threshold": met,
         "below_threshold": len(event.trainees) - met}, at, class_id=event.class_id)]
    planned += [Planned(
        _department(WOMENS_FEDERATION), Kind.WOMENS_FOLLOWUP_COMPLETED,
        {**common, "worker_id": t.worker_id, "percent": _percent(t.attendance_ratio),
         "met_threshold": t.met_threshold},
        at, ref=f"{event.class_id}/{t.worker_id}", worker_id=t.worker_id,
        class_id=event.class_id, only_if_female=t.worker_id)
        for t in sorted(event.trainees, key=lambda t: t.worker_id)]
    return planned


def on_payment_confirmed(confirmed: PaymentConfirmed, items: Sequence[PaymentItem],
                         at: datetime) -> list[Planned]:
    """Each worker paid by the confirmed instruction hears the total they received.

    Lines the bank rejected were not paid. The training subsidy goes to the institution, which
    is told by its bank, not by us.
    """
    failed = set(confirmed.failed_line_ids)
    paid: dict[str, list[PaymentItem]] = {}
    for item in items:
        if item.payee_kind == "worker" and item.line_id not in failed:
            paid.setdefault(item.payee_id, []).append(item)
    return [
        Planned(Recipient.worker(worker_id), Kind.SUBSIDY_PAID,
                {"amount_fen": sum(i.amount_fen for i in lines),
                 "lines": len(lines), "instruction_id": confirmed.instruction_id,
                 "confirmed_on": confirmed.confirmed_on.isoformat()},
                at, worker_id=worker_id)
        for worker_id, lines in sorted(paid.items())
    ]


def on_objection_raised(event: ObjectionRaised, at: datetime) -> list[Planned]:
    """The HR bureau must resolve an objection within the public notice: urgent."""
    params: dict[str, Any] = {"objection_id": event.objection_id, "batch_id": event.batch_id,
                              "line_id": event.line_id, "ground": event.ground,
                              "raised_on": event.raised_on.isoformat()}
    return [Planned(_department(HR_BUREAU), Kind.HR_OBJECTION_RAISED, params, at, urgent=True,
                    ref=event.objection_id)]


# -- after the certificate ------------------------------------------------------------------

def on_worker_referred(event: WorkerReferred, at: datetime) -> list[Planned]:
    """The worker hears where they were referred (they consented; the employer will call)."""
    params = {"vacancy_id": event.vacancy_id, "employer": event.employer,
              "site": site_label(event.site), "occupation_code": event.occupation_code,
              "level": event.level, "referred_on": event.referred_on.isoformat()}
    return [Planned(Recipient.worker(event.worker_id), Kind.REFERRAL_MADE, params, at,
                    ref=event.referral_id, worker_id=event.worker_id)]


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def on_worker_placed(event: WorkerPlaced, at: datetime) -> list[Planned]:
    """The trade union hears of the newly placed, the women's federation of a woman placed;
    the worker gets a reminder, and the station of the job's site its task, on the day each
    follow-up (1, 3 and 6 months after the start) falls due."""
    common = {"worker_id": event.worker_id, "employer": event.employer,
              "site": site_label(event.site), "occupation_code": event.occupation_code,
              "level": event.level, "amount_fen": event.monthly_wage_fen,
              "starts_on": event.starts_on.isoformat()}
    planned = [
        Planned(_department(TRADE_UNION), Kind.UNION_NEWLY_PLACED, common, at,
                ref=event.referral_id, worker_id=event.worker_id),
        Planned(_department(WOMENS_FEDERATION), Kind.WOMENS_FOLLOWUP_PLACED, common, at,
                ref=event.referral_id, worker_id=event.worker_id,
                only_if_female=event.worker_id),
    ]
    station = _department(station_key(event.site.province, event.site.city))
    for month in FOLLOW_UP_MONTHS:
        due = _add_months(event.starts_on, month)
        when = max(at, datetime.combine(due, FOLLOW_UP_LOCAL_TIME, SHANGHAI))
        params = {"referral_id": event.referral_id, "vacancy_id": event.vacancy_id,
                  "worker_id": event.worker_id, "employer": event.employer,
                  "site": site_label(event.site), "month": month, "due_on": due.isoformat()}
        ref = f"{event.referral_id}/{month}"
        planned += [
            Planned(Recipient.worker(event.worker_id), Kind.FOLLOW_UP_REMINDER,
                    {k: v for k, v in params.items() if k != "worker_id"}, when, ref=ref,
                    worker_id=event.worker_id),
            Planned(station, Kind.STATION_FOLLOW_UP_DUE, params, when, ref=ref,
                    worker_id=event.worker_id),
        ]
    return planned


def on_referral_declined(event: ReferralDeclined, at: datetime) -> list[Planned]:
    """A woman the employer did not hire goes on the women's federation's follow-up list."""
    params = {"worker_id": event.worker_id, "vacancy_id": event.vacancy_id,
              "reason": event.reason, "declined_on": event.declined_on.isoformat()}
    return [Planned(_department(WOMENS_FEDERATION), Kind.WOMENS_FOLLOWUP_NOT_PLACED, params, at,
                    ref=event.referral_id, worker_id=event.worker_id,
                    only_if_female=event.worker_id)]


def on_business_guidance_requested(event: BusinessGuidanceRequested,
                                   at: datetime) -> list[Planned]:
    """A request to start a business back home (返乡创业) goes on the HR bureau's list."""
    params = {"request_id": event.request_id, "worker_id": event.worker_id,
              "business_kind": event.business_kind, "needs": ", ".join(event.needs),
              "hometown_county": event.hometown_county or "-",
              "requested_on": event.requested_on.isoformat()}
    return [Planned(_department(HR_BUREAU), Kind.HR_BUSINESS_GUIDANCE_REQUESTED, params, at,
                    ref=event.request_id, worker_id=event.worker_id)]
