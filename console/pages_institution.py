"""The training institution: schedule a class with its sessions, open a class (roster and
attendance), take a session's register in one request, void a record, complete the class."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

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

router = APIRouter(prefix="/institution")
ROLE = "training_institution"
METHODS: tuple[CheckInMethod, ...] = ("face_check", "online_platform_log", "on_the_job_sign_off")
KINDS: tuple[SessionKind, ...] = ("classroom_theory", "online_theory", "practical_on_the_job",
                                  "field")


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
async def home(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    return render(request, "institution.html", session, kinds=KINDS,
                  institution_id=session.signed_in.identity.organisation.institution_id)


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
