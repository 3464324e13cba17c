"""The training institution: its classes (paged) and what waits for it, schedule a class with
its sessions, open a class (roster and attendance), take a session's register in one request,
void a record, complete the class."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console.i18n import SHANGHAI
from console.services import Refused, seg
from console.sessions import Session
from console.web import (
    Current,
    checked_form,
    language,
    read,
    refusal,
    render,
    require_role,
    see_other,
    sent,
)
from console.web import services as api
from shared.contracts.common import CheckInMethod, SessionKind
from shared.runtime.paging import next_link

router = APIRouter(prefix="/institution")
ROLE = "training_institution"
METHODS: tuple[CheckInMethod, ...] = ("face_check", "online_platform_log", "on_the_job_sign_off")
KINDS: tuple[SessionKind, ...] = ("classroom_theory", "online_theory", "practical_on_the_job",
                                  "field")
CLASSES_PER_PAGE = 20
# The task queue reads one page of the classes awaiting approval and one of those approved
# (by class id), and says when more follow rather than reading every page on each visit.
TASKS_SHOWN = 100


def parse_sessions(text: str) -> list[dict[str, str]]:
    """One session a line: ``2025-08-01 19:30 22:00 classroom_theory``."""
    sessions = []
    for number, line in enumerate(text.strip().splitlines(), start=1):
        parts = line.split()
        if len(parts) != 4:
            raise ValueError(f"line {number}: date start end kind")
        day, start, end, kind = parts
        sessions.append({"date": day, "start_local": start, "end_local": end, "kind": kind})
    return sessions


def _done(request: Request) -> str:
    return "已完成" if language(request) == "zh-CN" else "Done"


@router.get("", response_class=HTMLResponse)
async def home(request: Request, session: Current, after: str | None = None) -> Response:
    """The institution's classes a page at a time (training's ``GET /classes``, which answers
    an institution its own only) and its task queue."""
    require_role(session, ROLE)
    classes, following, problem = await class_page_of(request, session, after=after)
    pending, more_pending, pending_problem = await class_page_of(
        request, session, state="awaiting_approval", limit=TASKS_SHOWN)
    running, more_running, running_problem = await class_page_of(
        request, session, state="approved", limit=TASKS_SHOWN)
    return render(request, "institution.html", session, kinds=KINDS,
                  institution_id=session.signed_in.identity.organisation.institution_id,
                  classes=classes, following=following, first_page=after is None,
                  problem=problem or pending_problem or running_problem,
                  tasks=task_queue(pending, running, today()),
                  more_tasks=more_pending is not None or more_running is not None)


def today() -> date:
    """The day in Asia/Shanghai, where the classes are run from."""
    return datetime.now(SHANGHAI).date()


async def class_page_of(request: Request, session: Session, *, after: str | None = None,
                        state: str | None = None, limit: int = CLASSES_PER_PAGE
                        ) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """One page of the institution's classes (in one state, when given), the cursor of the
    next (None on the last), and what training refused (in the user's language)."""
    params = {"limit": str(limit)} | ({"state": state} if state else {}) | (
        {"after": after} if after else {})
    try:
        response = await api(request).call(session.signed_in.token, "GET", "training",
                                           "/classes", params=params)
    except Refused as refused:
        return [], None, refusal(request, refused)
    link = next_link(response)
    following = parse_qs(urlsplit(link).query).get("after", [None])[0] if link else None
    return response.json(), following, None


def task_queue(pending: list[dict[str, Any]], approved: list[dict[str, Any]],
               on: date) -> dict[str, list[dict[str, Any]]]:
    """What waits: classes the HR bureau has still to approve; approved classes whose
    sessions have begun and not all ended (registers to take); approved classes whose last
    session is held (to complete once the last register is in)."""
    def day(item: dict[str, Any], key: str) -> date:
        return date.fromisoformat(item[key])

    return {"awaiting_approval": pending,
            "registers": [c for c in approved
                          if day(c, "first_session_date") <= on <= day(c, "last_session_date")],
            "to_complete": [c for c in approved if day(c, "last_session_date") <= on]}


@router.post("/classes")
async def schedule(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    f = await checked_form(request, session)
    try:
        sessions = parse_sessions(f.get("sessions", ""))
        body = {"class_id": f.get("class_id", ""),
                "institution_id": session.signed_in.identity.organisation.institution_id,
                "occupation_code": f.get("occupation", ""),
                "target_level": int(f.get("level", "0")),
                "site": {"province": f.get("province", ""), "city": f.get("city", ""),
                         "site_name": f.get("site_name", "")},
                "mode": f.get("mode", ""), "capacity": int(f.get("capacity", "0")),
                "sessions": sessions, "required_minutes": int(f.get("required_minutes", "0")),
                "trainer_ids": []}
    except ValueError as exc:
        session.say(f"invalid_request: {exc}", "error")
        return see_other("/institution")
    ok, _ = await sent(request, session, "training", "/classes", body,
                       done=f"{_done(request)}: {body['class_id']}")
    return see_other(f"/institution/classes/{seg(body['class_id'])}" if ok else "/institution")


@router.get("/classes", response_class=HTMLResponse)
async def open_class(request: Request, session: Current,
                     class_id: str = "") -> Response:
    return see_other(f"/institution/classes/{seg(class_id)}")


@router.get("/classes/{class_id}", response_class=HTMLResponse)
async def class_page(class_id: str, request: Request,
                     session: Current) -> Response:
    require_role(session, ROLE)
    sheet, problem = await read(request, session, "training", f"/classes/{seg(class_id)}/sheet")
    return render(request, "institution_class.html", session, class_id=class_id, sheet=sheet,
                  problem=problem, methods=METHODS, outcome=session_outcome(session, class_id))


def session_outcome(session: Session, class_id: str) -> object:
    """The last register's or completion's answer, shown once on the class page."""
    return session.shown.pop(class_id, None)


def keep_outcome(session: Session, class_id: str, outcome: object) -> None:
    session.shown[class_id] = outcome


@router.post("/classes/{class_id}/register")
async def take_register(class_id: str, request: Request,
                        session: Current) -> Response:
    """The session's register: every ticked trainee's minutes and check-in method, sent in one
    request (POST /classes/{id}/sessions/{session_id}/attendance)."""
    require_role(session, ROLE)
    f = await checked_form(request, session)
    method = f.get("method", "face_check")
    lines = []
    for key in f:
        if key.startswith("present:"):
            worker_id = key.removeprefix("present:")
            try:
                minutes = int(f.get(f"minutes:{worker_id}", "0"))
            except ValueError:
                minutes = 0
            lines.append({"worker_id": worker_id, "minutes": minutes, "method": method})
    target = f"/institution/classes/{seg(class_id)}"
    try:
        answer = await api(request).post(
            session.signed_in.token, "training",
            f"/classes/{seg(class_id)}/sessions/{seg(f.get('session_id', ''))}/attendance",
            {"check_ins": lines})
    except Refused as refused:
        session.say(refusal(request, refused), "error")
        return see_other(target)
    keep_outcome(session, class_id, {"register": answer["lines"]})
    recorded = sum(1 for x in answer["lines"] if x["outcome"] == "recorded")
    session.say(f"{_done(request)}: {recorded}/{len(lines)}")
    return see_other(target)


@router.post("/classes/{class_id}/void")
async def void(class_id: str, request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    f = await checked_form(request, session)
    await sent(request, session, "training",
               f"/classes/{seg(class_id)}/attendance/{seg(f.get('attendance_id', ''))}/void",
               {"reason": f.get("reason", "")}, done=_done(request))
    return see_other(f"/institution/classes/{seg(class_id)}")


@router.post("/classes/{class_id}/completion")
async def complete(class_id: str, request: Request,
                   session: Current) -> Response:
    require_role(session, ROLE)
    await checked_form(request, session)
    try:
        answer = await api(request).post(session.signed_in.token, "training",
                                         f"/classes/{seg(class_id)}/completion")
        keep_outcome(session, class_id, {"completion": answer})
        session.say(_done(request))
    except Refused as refused:
        session.say(refusal(request, refused), "error")
    return see_other(f"/institution/classes/{seg(class_id)}")
