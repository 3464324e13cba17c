"""The liaison station: its task queue and its workers' journeys (home), register a worker
(the ID number's check digit checked as typed), the intake survey, enrol in a class,
withdraw, a worker's training record."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
    services,
)
from shared.calendar import programme_today
from shared.contracts.common import ClassMode
from shared.runtime.paging import next_link

router = APIRouter(prefix="/station")
ROLE = "liaison_station"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
MODES: tuple[ClassMode, ...] = ("night", "weekend", "full_time")


def id_check(number: str) -> str:
    """'ok', 'short' or 'bad': the GB 11643 check digit of an ID number as typed so far."""
    number = number.strip().upper()
    if len(number) < 18:
        return "short"
    if len(number) > 18 or not number[:17].isdigit():
        return "bad"
    total = sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS, strict=True))
    return "ok" if _CHECK_CHARS[total % 11] == number[17] else "bad"


def _home_site(session: Session) -> dict[str, str]:
    sites = session.signed_in.identity.organisation.sites
    return {"province": sites[0].province, "city": sites[0].city} if sites else {}


# The journey's stages in order (enrolment's GET /journeys), and the station's task queue:
# each task is a filter of that list, shown a few at a time.
STAGES = ("registered", "surveyed", "enrolled", "trained", "certified", "paid")
JOURNEY_PAGE = 20
TASK_PAGE = 5
STARTING_WITHIN_DAYS = 7


def _tasks() -> list[tuple[str, dict[str, str]]]:
    """(task key, the journeys' filter): registered without an intake survey, surveyed but
    not enrolled, enrolled in a class that starts within a week."""
    today = programme_today()
    soon = today + timedelta(days=STARTING_WITHIN_DAYS)
    return [("journey.task.survey", {"stage": "registered"}),
            ("journey.task.enrol", {"stage": "surveyed"}),
            ("journey.task.starting", {"stage": "enrolled", "starts_from": today.isoformat(),
                                       "starts_by": soon.isoformat()})]


async def _journeys(request: Request, session: Session, params: dict[str, str]
                    ) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """One page of the station's journeys: (items, the next page's cursor, why refused)."""
    try:
        response = await services(request).call(session.signed_in.token, "GET", "enrolment",
                                                 "/journeys", params=params)
    except Refused as refused:
        return [], None, refusal(request, refused)
    link = next_link(response)
    after = parse_qs(urlsplit(link).query).get("after", [None])[0] if link else None
    return response.json(), after, None


@router.get("", response_class=HTMLResponse)
async def home(request: Request, session: Current, stage: str = "",
               after: str = "") -> Response:
    require_role(session, ROLE)
    shown_stage = stage if stage in STAGES else ""
    listing = {"limit": str(JOURNEY_PAGE), **({"stage": shown_stage} if shown_stage else {}),
               **({"after": after} if after else {})}
    tasks = _tasks()
    answers = await asyncio.gather(
        _journeys(request, session, listing),
        *(_journeys(request, session, {"limit": str(TASK_PAGE), **f}) for _, f in tasks))
    journeys, next_after, problem = answers[0]
    queue = [{"key": key, "filter": f, "workers": items, "more": more is not None,
              "problem": why} for (key, f), (items, more, why) in zip(tasks, answers[1:],
                                                                     strict=True)]
    return render(request, "station.html", session, site=_home_site(session), modes=MODES,
                  earliest=(programme_today() + timedelta(days=7)).isoformat(), queue=queue,
                  journeys=journeys, next_after=next_after, problem=problem,
                  stage=shown_stage, stages=STAGES, paged=bool(after))


@router.post("/id-check", response_class=HTMLResponse)
async def check_id(request: Request, session: Current) -> Response:
    fields = await checked_form(request, session)
    verdict = id_check(fields.get("national_id", ""))
    return render(request, "partials/id_check.html", session, verdict=verdict)


@router.post("/workers")
async def register(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    f = await checked_form(request, session)
    body = {"name": f.get("name", ""), "national_id": f.get("national_id", ""),
            "mobile": f.get("mobile", ""), "hometown_county": f.get("hometown_county", ""),
            "hometown_township": f.get("hometown_township", ""),
            "household_county": f.get("hometown_county", ""), "employer": f.get("employer", ""),
            "work_site": {"province": f.get("province", ""), "city": f.get("city", ""),
                          "site_name": f.get("employer", "")}}
    t = language(request) == "zh-CN"
    try:
        answer = await services(request).post(session.signed_in.token, "enrolment",
                                              "/workers", body)
        session.say(f"{'已登记，人员编号' if t else 'Registered: worker id'} "
                    f"{answer['worker_id']}")
    except Refused as refused:
        session.say(refusal(request, refused), "error")
    return see_other("/station")


@router.post("/surveys")
async def survey(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    f = await checked_form(request, session)
    body = {"desired_occupations": [f.get("occupation", "")],
            "availability": [f.get("mode", "")], "earliest_start": f.get("earliest_start")}
    path = f"/workers/{seg(f.get('worker_id', ''))}/intake-surveys"
    return await _command(request, session, path, body, "survey_id")


@router.post("/enrolments")
async def enrol(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    f = await checked_form(request, session)
    body = {"worker_id": f.get("worker_id", ""), "class_id": f.get("class_id", "")}
    return await _command(request, session, "/enrolments", body, "enrolment_id")


@router.post("/withdrawals")
async def withdraw(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    f = await checked_form(request, session)
    return await _command(request, session,
                          f"/enrolments/{seg(f.get('enrolment_id', ''))}/withdrawal",
                          {"reason": f.get("reason", "")}, None)


async def _command(request: Request, session: Session, path: str, body: dict,
                   answer_key: str | None) -> Response:
    try:
        answer = await services(request).post(session.signed_in.token, "enrolment", path, body)
        done = "已完成" if language(request) == "zh-CN" else "Done"
        shown = f" {answer_key}: {answer[answer_key]}" if answer_key and answer else ""
        session.say(done + shown)
    except Refused as refused:
        session.say(refusal(request, refused), "error")
    return see_other("/station")


@router.post("/lookup")
async def lookup(request: Request, session: Current) -> Response:
    """The worker registered under this ID number, exactly (the number goes in the body of
    the service call, never in a URL); then their training record."""
    require_role(session, ROLE)
    f = await checked_form(request, session)
    try:
        found = await services(request).post(session.signed_in.token, "enrolment",
                                             "/workers/lookup",
                                             {"national_id": f.get("national_id", "")})
    except Refused as refused:
        session.say(refusal(request, refused), "error")
        return see_other("/station")
    return see_other(f"/station/workers?worker_id={seg(found['worker_id'])}")


@router.get("/workers", response_class=HTMLResponse)
async def record(request: Request, session: Current,
                 worker_id: str = "") -> Response:
    require_role(session, ROLE)
    found, problem = await read(request, session, "enrolment",
                                f"/workers/{seg(worker_id)}/training-record")
    return render(request, "station_record.html", session, worker_id=worker_id, record=found,
                  problem=problem)
