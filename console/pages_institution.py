"""The training institution: its classes (paged) and what waits for it, schedule a class with
its sessions, open a class (roster and attendance), take a session's register in one request,
void a record, complete the class."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console.form_rows import (
    Row,
    complaint,
    edit_rows,
    field_name,
    first_refused,
    is_blank,
    read_rows,
    refused_fields,
    show_refusal,
)
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
from shared.calendar import programme_today
from shared.contracts.common import CheckInMethod, ClassMode, SessionKind
from shared.runtime.paging import next_link

router = APIRouter(prefix="/institution")
ROLE = "training_institution"
METHODS: tuple[CheckInMethod, ...] = ("face_check", "online_platform_log", "on_the_job_sign_off")
KINDS: tuple[SessionKind, ...] = ("classroom_theory", "online_theory", "practical_on_the_job",
                                  "field")
MODES: tuple[ClassMode, ...] = ("night", "weekend", "full_time")
CLASSES_PER_PAGE = 20
# The task queue reads one page of the classes awaiting approval and one of those approved
# (by class id), and says when more follow rather than reading every page on each visit.
TASKS_SHOWN = 100


SESSION_FIELDS = ("date", "start", "end", "kind")
BLANK_SESSION: Row = {"date": "", "start": "", "end": "", "kind": "classroom_theory"}
CLASS_DEFAULTS = {"class_id": "", "occupation": "electrician", "level": "4", "mode": "night",
                  "province": "新疆", "city": "阜康市", "site_name": "阜康工业园",
                  "capacity": "60", "required_minutes": ""}
# the request's names for the form's: where a 422 points, the field to show it beside
WIRE_NAMES = {"occupation_code": "occupation", "target_level": "level",
              "start_local": "start", "end_local": "end"}
FIELD_OF_REFUSAL = {"class_already_scheduled": "class_id",
                    "occupation_not_in_catalogue": "occupation",
                    "occupation_not_in_scope": "occupation", "level_not_offered": "level",
                    "site_not_in_scope": "site_name",
                    "required_minutes_exceed_sessions": "required_minutes"}
ROW_OF_REFUSAL = {"session_ends_before_it_starts": "end", "sessions_overlap": "start"}


@dataclass
class ClassForm:
    """The scheduling form as typed, and each problem (in the user's language) by field name:
    ``session-2-end``, ``capacity``; ``form`` for what concerns no one field."""

    values: dict[str, str]
    rows: list[Row]
    errors: dict[str, str] = field(default_factory=dict)
    focus: str | None = None

    @classmethod
    def blank(cls) -> ClassForm:
        return cls(dict(CLASS_DEFAULTS), [dict(BLANK_SESSION)])


def _time(text: str) -> time | None:
    try:
        parsed = time.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is None else None


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == len("2025-08-04") else None
    except ValueError:
        return None


def read_class_form(fields: dict[str, str], institution_id: str,
                    lang: str) -> tuple[dict[str, Any] | None, list[int], ClassForm]:
    """The ScheduleClass request the form makes, with the row each of its sessions came from
    (blank rows are left out); or None, when the console already sees what is wrong, and the
    form with each problem beside its field."""
    form = ClassForm({k: fields.get(k, "").strip() for k in CLASS_DEFAULTS},
                     read_rows(fields, "session", SESSION_FIELDS))
    say = form.errors.setdefault
    numbers: dict[str, int] = {}
    for name in ("level", "capacity", "required_minutes"):
        text = form.values[name]
        if not text.isdigit():
            say(name, complaint(lang, "number"))
        else:
            numbers[name] = int(text)
    for name in ("class_id", "occupation", "province", "city", "site_name"):
        if not form.values[name]:
            say(name, complaint(lang, "missing"))
    if form.values["mode"] not in MODES:
        say("mode", complaint(lang, "literal_error"))
    sessions: list[dict[str, str]] = []
    rows: list[int] = []
    spans: list[tuple[date, time, time, int]] = []
    for index, row in enumerate(form.rows):
        if is_blank(row, ignore=("kind",)):
            continue
        name = lambda part, i=index: field_name("session", i, part)  # noqa: E731
        day, start, end = _day(row["date"]), _time(row["start"]), _time(row["end"])
        if day is None:
            say(name("date"), complaint(lang, "date"))
        if start is None:
            say(name("start"), complaint(lang, "time"))
        if end is None:
            say(name("end"), complaint(lang, "time"))
        elif start is not None and end <= start:
            say(name("end"), complaint(lang, "session_ends_before_it_starts"))
        if row["kind"] not in KINDS:
            say(name("kind"), complaint(lang, "literal_error"))
        if day and start and end:
            sessions.append({"date": day.isoformat(), "start_local": start.isoformat(),
                             "end_local": end.isoformat(), "kind": row["kind"]})
            rows.append(index)
            spans.append((day, start, end, index))
    spans.sort()
    for (day, _, end, _), (next_day, next_start, _, next_index) in pairwise(spans):
        if day == next_day and end > next_start:
            say(field_name("session", next_index, "start"), complaint(lang, "sessions_overlap"))
    if not rows and not any(k.startswith("session-") for k in form.errors):
        say("sessions", complaint(lang, "no_sessions"))
    if form.errors:
        return None, rows, form
    body = {"class_id": form.values["class_id"], "institution_id": institution_id,
            "occupation_code": form.values["occupation"], "target_level": numbers["level"],
            "site": {"province": form.values["province"], "city": form.values["city"],
                     "site_name": form.values["site_name"]},
            "mode": form.values["mode"], "capacity": numbers["capacity"],
            "sessions": sessions, "required_minutes": numbers["required_minutes"],
            "trainer_ids": []}
    return body, rows, form


def place_refusal(form: ClassForm, rows: list[int], sessions: list[dict[str, str]],
                  refused: Refused, lang: str) -> None:
    """Puts training's refusal beside the field (or the session row) it concerns; what
    concerns no one field goes to ``form``."""
    complaints = refused_fields(refused)
    for loc, kind, message in complaints:
        text = complaint(lang, kind, message)
        if loc[:1] == ("sessions",) and len(loc) >= 3 and isinstance(loc[1], int) \
                and loc[1] < len(rows):
            part = WIRE_NAMES.get(str(loc[2]), str(loc[2]))
            form.errors.setdefault(field_name("session", rows[loc[1]], part), text)
        elif loc[:1] == ("site",) and len(loc) == 2:
            form.errors.setdefault(str(loc[1]), text)
        elif loc and WIRE_NAMES.get(str(loc[0]), str(loc[0])) in CLASS_DEFAULTS:
            form.errors.setdefault(WIRE_NAMES.get(str(loc[0]), str(loc[0])), text)
        elif loc[:1] == ("sessions",):
            form.errors.setdefault("sessions", text)
        else:
            form.errors.setdefault("form", text)
    if complaints:
        form.errors.setdefault("form", complaint(lang, "see_fields"))
        return
    details = refused.body if isinstance(refused.body, dict) else {}
    text = complaint(lang, refused.code, refused.message, details)
    if refused.code in ROW_OF_REFUSAL:
        day = str(details.get("session_date", ""))
        hit = [i for i, s in zip(rows, sessions, strict=True) if s["date"] == day]
        for index in hit:
            form.errors.setdefault(field_name("session", index, ROW_OF_REFUSAL[refused.code]),
                                   text)
        if hit:
            return
    form.errors.setdefault(FIELD_OF_REFUSAL.get(refused.code, "form"), text)


def _done(request: Request) -> str:
    return "已完成" if language(request) == "zh-CN" else "Done"


def _institution_id(session: Session) -> str:
    return session.signed_in.identity.organisation.institution_id or ""


async def _show_form(request: Request, session: Session, form: ClassForm, *,
                     template: str = "institution.html", after: str | None = None
                     ) -> Response:
    """The page (or, for htmx, the rows editor alone) with the form as typed. A form with
    problems answers 422 to a plain post; htmx swaps only 2xx answers, so it gets 200. The
    whole page also shows a page of the institution's classes (after ``after``) and its
    task queue."""
    htmx = bool(request.headers.get("HX-Request"))
    status = 422 if form.errors and not htmx else 200
    form.focus = form.focus or first_refused(form.errors)
    listed = await _classes(request, session, after) if template == "institution.html" else {}
    response = render(request, template, session, status_code=status, kinds=KINDS,
                      modes=MODES, form=form, institution_id=_institution_id(session),
                      **listed)
    if htmx and template == "institution.html":
        response.headers["HX-Push-Url"] = "/institution"
        if form.errors:
            response.headers["HX-Reswap"] = show_refusal(form.errors, form.focus)
    return response


@router.get("", response_class=HTMLResponse)
async def home(request: Request, session: Current, after: str | None = None) -> Response:
    """The institution's classes a page at a time (training's ``GET /classes``, which answers
    an institution its own only) and its task queue."""
    require_role(session, ROLE)
    return await _show_form(request, session, ClassForm.blank(), after=after)


def _edited(fields: dict[str, str]) -> ClassForm | None:
    """The form after its add-row or remove-row button; None when it was not one."""
    form = ClassForm({k: fields.get(k, "").strip() for k in CLASS_DEFAULTS},
                     read_rows(fields, "session", SESSION_FIELDS))
    edited = edit_rows(fields, "session", form.rows, BLANK_SESSION)
    if edited is None:
        return None
    form.rows, focus = edited
    form.focus = field_name("session", focus, "date") if focus is not None else None
    return form


@router.post("/sessions-editor", response_class=HTMLResponse)
async def sessions_editor(request: Request, session: Current) -> Response:
    """htmx: the rows editor with a row added or removed (nothing is sent to training)."""
    require_role(session, ROLE)
    form = _edited(await checked_form(request, session)) or ClassForm.blank()
    return await _show_form(request, session, form, template="institution_sessions.html")


async def _classes(request: Request, session: Session, after: str | None) -> dict[str, Any]:
    """What the home page shows above the forms: a page of the institution's classes and its
    task queue."""
    classes, following, problem = await class_page_of(request, session, after=after)
    pending, more_pending, pending_problem = await class_page_of(
        request, session, state="awaiting_approval", limit=TASKS_SHOWN)
    running, more_running, running_problem = await class_page_of(
        request, session, state="approved", limit=TASKS_SHOWN)
    return dict(classes=classes, following=following, first_page=after is None,
                problem=problem or pending_problem or running_problem,
                tasks=task_queue(pending, running, programme_today()),
                more_tasks=more_pending is not None or more_running is not None)


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
    """Schedules the class in one request to training, once every row reads right; a row
    added or removed (without JavaScript) shows the form again, sending nothing."""
    require_role(session, ROLE)
    f = await checked_form(request, session)
    edited = _edited(f)
    if edited is not None:
        return await _show_form(request, session, edited)
    lang = language(request)
    body, rows, form = read_class_form(f, _institution_id(session), lang)
    if body is None:
        return await _show_form(request, session, form)
    try:
        await api(request).post(session.signed_in.token, "training", "/classes", body)
    except Refused as refused:
        place_refusal(form, rows, body["sessions"], refused, lang)
        return await _show_form(request, session, form)
    session.say(f"{_done(request)}: {body['class_id']}")
    return see_other(f"/institution/classes/{seg(body['class_id'])}")


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
