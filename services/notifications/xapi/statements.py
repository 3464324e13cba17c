"""Learning events as xAPI 1.0.3 statements. Pure code: no I/O.

- The actor is a pseudonymous account: ``homePage`` the programme's, ``name`` the worker id.
  Never a name, a phone or an ID number (events carry none).
- Verbs from the ADL registry (``http://adlnet.gov/expapi/verbs/``): enrolled -> registered,
  attended a session -> attended, met a class's attendance threshold -> completed, passed or
  failed an assessment -> passed / failed, certified at a skill level -> mastered (the ADL
  registry has no "certified"; mastered is its verb for having achieved a level), and a
  voided attendance or result or a revoked certificate -> voided (a voiding statement).
- The statement id is derived (uuid5) from the event id, and from the worker id where one
  event makes a statement per trainee: a redelivered event makes the same statements, which
  an LRS stores once.
- The context names the class, the occupation and the skill level, where known.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from shared.contracts.assessment import AssessmentResultRecorded, SkillLevelCertified
from shared.contracts.enrolment import WorkerEnrolled
from shared.contracts.training import AttendanceRecorded, ClassCompleted

XAPI_VERSION = "1.0.3"
ADL_VERBS = "http://adlnet.gov/expapi/verbs/"
ADL_ACTIVITIES = "http://adlnet.gov/expapi/activities/"
# Fixed forever: every statement id is uuid5(STATEMENT_NAMESPACE, "<event id>[/<worker id>]").
STATEMENT_NAMESPACE = UUID("6f0d1c2e-5b8a-4c53-9a57-3e1d2b7c9a41")

Statement = dict[str, Any]
# Stands for the programme's home page in stored statements (see ``with_home_page``).
PROGRAMME = "urn:songji:programme"


@dataclass(frozen=True)
class Planned:
    """A statement to send, and what a later voiding names it by (``kind:id``)."""

    statement_id: UUID
    statement: Statement
    ref: str | None = None


@dataclass(frozen=True)
class Facts:
    """What the statement's context says about the class, where known."""

    class_id: str
    occupation_code: str | None = None
    level: int | None = None


def statement_id(event_id: UUID, worker_id: str | None = None) -> UUID:
    return uuid.uuid5(STATEMENT_NAMESPACE, str(event_id) if worker_id is None
                      else f"{event_id}/{worker_id}")


class Programme:
    """IRIs under the programme's home page: the accounts' ``homePage``, the activities' and
    the extensions' ids."""

    def __init__(self, home_page: str) -> None:
        self.home_page = home_page.rstrip("/")

    def actor(self, worker_id: str) -> dict[str, Any]:
        return {"objectType": "Agent",
                "account": {"homePage": self.home_page, "name": worker_id}}

    def extension(self, name: str) -> str:
        return f"{self.home_page}/xapi/extensions/{name}"

    def activity(self, path: str, kind: str, name: str) -> dict[str, Any]:
        return {"objectType": "Activity", "id": f"{self.home_page}/{path}",
                "definition": {"type": ADL_ACTIVITIES + kind, "name": {"en-US": name}}}

    def class_activity(self, class_id: str) -> dict[str, Any]:
        return self.activity(f"classes/{class_id}", "course", f"Class {class_id}")

    def level_activity(self, occupation_code: str, level: int) -> dict[str, Any]:
        return self.activity(f"occupations/{occupation_code}/levels/{level}", "objective",
                             f"{occupation_code}, skill level {level}")

    def context(self, facts: Facts, *, parent: bool = True) -> dict[str, Any]:
        extensions: dict[str, Any] = {self.extension("class"): facts.class_id}
        activities: dict[str, Any] = {}
        if parent:
            activities["parent"] = [self.class_activity(facts.class_id)]
        if facts.occupation_code is not None:
            extensions[self.extension("occupation")] = facts.occupation_code
            activities["category"] = [self.activity(
                f"occupations/{facts.occupation_code}", "profile", facts.occupation_code)]
        if facts.level is not None:
            extensions[self.extension("level")] = facts.level
        context: dict[str, Any] = {"platform": "Songji", "extensions": extensions}
        if activities:
            context["contextActivities"] = activities
        return context


def _verb(name: str) -> dict[str, Any]:
    return {"id": ADL_VERBS + name, "display": {"en-US": name}}


def _timestamp(at: datetime) -> str:
    return at.isoformat()


def _statement(sid: UUID, actor: dict[str, Any], verb: str, obj: dict[str, Any],
               context: dict[str, Any], at: datetime,
               result: dict[str, Any] | None = None) -> Statement:
    statement: Statement = {"id": str(sid), "actor": actor, "verb": _verb(verb),
                            "object": obj, "context": context, "timestamp": _timestamp(at)}
    if result is not None:
        statement["result"] = result
    return statement


def enrolled(p: Programme, event_id: UUID, at: datetime, event: WorkerEnrolled) -> Planned:
    facts = Facts(event.class_id, event.occupation_code, event.target_level)
    sid = statement_id(event_id)
    return Planned(sid, _statement(sid, p.actor(event.worker_id), "registered",
                                   p.class_activity(event.class_id),
                                   p.context(facts, parent=False), at),
                   ref=f"enrolment:{event.enrolment_id}")


def attended(p: Programme, event_id: UUID, at: datetime, event: AttendanceRecorded,
             facts: Facts) -> Planned:
    sid = statement_id(event_id)
    session = p.activity(f"classes/{event.class_id}/sessions/{event.session_id}", "meeting",
                         f"Class {event.class_id}, session {event.session_id}")
    context = p.context(facts)
    context["extensions"][p.extension("session-date")] = _day(event.session_date)
    result = {"completion": True, "duration": f"PT{event.minutes}M"}
    return Planned(sid, _statement(sid, p.actor(event.worker_id), "attended", session,
                                   context, at, result),
                   ref=f"attendance:{event.attendance_id}")


def completed(p: Programme, event_id: UUID, at: datetime,
              event: ClassCompleted) -> list[Planned]:
    """One statement per trainee who met the attendance threshold; the others did not
    complete the class."""
    facts = Facts(event.class_id, event.occupation_code, event.target_level)
    planned = []
    for trainee in event.trainees:
        if not trainee.met_threshold:
            continue
        sid = statement_id(event_id, trainee.worker_id)
        result = {
            "completion": True, "success": True,
            "duration": f"PT{trainee.attended_minutes}M",
            "score": {"scaled": min(1.0, trainee.attendance_ratio)},
            "extensions": {p.extension("attended-minutes"): trainee.attended_minutes,
                           p.extension("required-minutes"): trainee.required_minutes,
                           p.extension("attendance-ratio"): trainee.attendance_ratio},
        }
        planned.append(Planned(sid, _statement(
            sid, p.actor(trainee.worker_id), "completed", p.class_activity(event.class_id),
            p.context(facts, parent=False), at, result)))
    return planned


def assessed(p: Programme, event_id: UUID, at: datetime, event: AssessmentResultRecorded,
             facts: Facts | None) -> Planned:
    """Passed or failed; the score is the mean of the theory and practical scores (each out
    of 100; passing needs both at the pass mark), both also given on their own."""
    sid = statement_id(event_id)
    raw = (event.theory_score + event.practical_score) / 2
    result = {
        "success": event.passed, "completion": True,
        "score": {"raw": raw, "min": 0, "max": 100, "scaled": raw / 100},
        "extensions": {p.extension("theory-score"): event.theory_score,
                       p.extension("practical-score"): event.practical_score},
    }
    assessment = p.activity(f"assessments/{event.assessment_id}", "assessment",
                            f"Assessment {event.assessment_id}")
    context = (p.context(facts) if facts is not None else
               {"platform": "Songji", "extensions": {}})
    context["extensions"][p.extension("assessment")] = event.assessment_id
    return Planned(sid, _statement(sid, p.actor(event.worker_id),
                                   "passed" if event.passed else "failed", assessment,
                                   context, at, result),
                   ref=f"result:{event.result_id}")


def certified(p: Programme, event_id: UUID, at: datetime,
              event: SkillLevelCertified) -> Planned:
    sid = statement_id(event_id)
    facts = Facts(event.class_id, event.occupation_code, event.level)
    context = p.context(facts)
    context["extensions"][p.extension("certificate")] = event.certificate_id
    context["extensions"][p.extension("certified-on")] = _day(event.certified_on)
    return Planned(sid, _statement(sid, p.actor(event.worker_id), "mastered",
                                   p.level_activity(event.occupation_code, event.level),
                                   context, at, {"success": True, "completion": True}),
                   ref=f"certificate:{event.certificate_id}")


def voiding(p: Programme, event_id: UUID, at: datetime, voided: UUID) -> Planned:
    """The statement that voids ``voided`` (the programme voids it, not the worker)."""
    sid = statement_id(event_id)
    return Planned(sid, {"id": str(sid), "actor": p.actor("songji-programme"),
                         "verb": _verb("voided"),
                         "object": {"objectType": "StatementRef", "id": str(voided)},
                         "timestamp": _timestamp(at)})


def with_home_page(value: Any, home_page: str, placeholder: str = PROGRAMME) -> Any:
    """``value`` with every string (and key) that starts with ``placeholder`` starting with
    ``home_page`` instead."""
    home_page = home_page.rstrip("/")
    if isinstance(value, str):
        return home_page + value[len(placeholder):] if value.startswith(placeholder) else value
    if isinstance(value, dict):
        return {with_home_page(k, home_page, placeholder): with_home_page(v, home_page,
                                                                          placeholder)
                for k, v in value.items()}
    if isinstance(value, list):
        return [with_home_page(v, home_page, placeholder) for v in value]
    return value


def _day(day: date) -> str:
    return day.isoformat()
