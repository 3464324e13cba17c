"""The assessment body: schedule an assessment of a completed class (a recusal refusal shown
as the service says it), enter scores in a table, see the certificates issued."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console.services import Refused, seg
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
from shared.runtime.paging import next_link

router = APIRouter(prefix="/body")
ROLE = "assessment_body"
SCORE_ROWS = 8


QUEUE_SHOWN = 50  # the first page of the queue; the list says when more wait


@router.get("", response_class=HTMLResponse)
async def home(request: Request, session: Current, class_id: str = "") -> Response:
    """The task queue (completed classes no assessment is scheduled for, from assessment's
    ``GET /classes/awaiting-assessment``) above the forms; ``class_id`` fills the schedule
    form with the class picked from the queue."""
    require_role(session, ROLE)
    queue, queue_problem, more = [], None, False
    try:
        answer = await api(request).call(
            session.signed_in.token, "GET", "assessment", "/classes/awaiting-assessment",
            params={"limit": str(QUEUE_SHOWN)})
        queue, more = answer.json(), next_link(answer) is not None
    except Refused as refused:
        queue_problem = refusal(request, refused)
    return render(request, "body.html", session, today=programme_today().isoformat(),
                  body_id=session.signed_in.identity.organisation.body_id, queue=queue,
                  queue_more=more, queue_problem=queue_problem, picked=class_id[:128])


@router.post("/assessments")
async def schedule(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    f = await checked_form(request, session)
    assessment_id = f.get("assessment_id", "")
    body = {"assessment_id": assessment_id,
            "body_id": session.signed_in.identity.organisation.body_id,
            "class_id": f.get("class_id", ""),
            "assessor_ids": [a.strip() for a in f.get("assessor_ids", "").split(",")
                             if a.strip()],
            "scheduled_on": f.get("scheduled_on", "")}
    scheduled = "已安排" if language(request) == "zh-CN" else "Scheduled"
    ok, _ = await sent(request, session, "assessment", "/assessments", body,
                       done=f"{scheduled}: {assessment_id}")
    return see_other(f"/body/assessments/{seg(assessment_id)}" if ok else "/body")


@router.get("/assessments", response_class=HTMLResponse)
async def open_assessment(request: Request, session: Current,
                          assessment_id: str = "") -> Response:
    return see_other(f"/body/assessments/{seg(assessment_id)}")


@router.get("/assessments/{assessment_id}", response_class=HTMLResponse)
async def assessment(assessment_id: str, request: Request,
                     session: Current) -> Response:
    require_role(session, ROLE)
    found, problem = await read(request, session, "assessment",
                                f"/assessments/{seg(assessment_id)}/results")
    return render(request, "body_assessment.html", session, assessment_id=assessment_id,
                  found=found, problem=problem, rows=range(1, SCORE_ROWS + 1))


@router.post("/assessments/{assessment_id}/scores")
async def scores(assessment_id: str, request: Request,
                 session: Current) -> Response:
    """Each filled row of the table is one candidate's result; rows are sent in order and a
    refused row is reported with the service's reason while the others go on."""
    require_role(session, ROLE)
    f = await checked_form(request, session)
    recorded = 0
    for row in range(1, SCORE_ROWS + 1):
        worker_id = f.get(f"worker:{row}", "").strip()
        if not worker_id:
            continue
        try:
            body = {"worker_id": worker_id, "theory_score": int(f.get(f"theory:{row}", "")),
                    "practical_score": int(f.get(f"practical:{row}", ""))}
        except ValueError:
            session.say(f"{worker_id}: invalid_request", "error")
            continue
        try:
            await api(request).post(session.signed_in.token, "assessment",
                                    f"/assessments/{seg(assessment_id)}/results", body)
            recorded += 1
        except Refused as refused:
            session.say(f"{worker_id}: {refusal(request, refused)}", "error")
    session.say(f"{'已录入' if language(request) == 'zh-CN' else 'Recorded'}: {recorded}")
    return see_other(f"/body/assessments/{seg(assessment_id)}")
