"""The women's federation: its follow-up list, the notices notifications addressed to it
(women enrolled, completing, certified, placed or not), shown by kind, worker id and state
only; and the programme's counts by gender, which it may read.

Notifications keeps the notices in its delivery log; the federation may list the notices
addressed to it (``view_own_notices``), never another recipient's. Should notifications refuse
(a service away, a policy changed), the page says so plainly instead of showing an empty
list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console import charts
from console.pages_media import placements
from console.sessions import Session
from console.web import Current, read, render, require_role

router = APIRouter(prefix="/womens-federation")
ROLE = "womens_federation"
# Notifications' department key of the women's federation (its notices' recipient id).
RECIPIENT = "womens_federation"


async def followups(request: Request, session: Session,
                    recipient: str) -> tuple[list[dict[str, Any]], str | None]:
    """A department's follow-up list (the notices addressed to it), newest first, or why
    notifications refused it (partials/followups.html shows either)."""
    notices, problem = await read(request, session, "notifications", "/notifications",
                                  {"recipient_id": recipient})
    return sorted(notices or [], key=lambda n: n["created_at"], reverse=True), problem


@router.get("", response_class=HTMLResponse)
async def home(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    notices, notice_problem = await followups(request, session, RECIPIENT)
    enrolments, enrolment_problem = await read(request, session, "enrolment",
                                               "/statistics/enrolments")
    outcomes, outcome_problem = await read(request, session, "employment",
                                           "/statistics/outcomes", {"by": "gender"})
    by_gender = []
    if enrolments is not None:
        by_gender.append(("enrolled", charts.bars(charts.summed(
            enrolments, charts.field("gender"), "workers"))))
    if outcomes is not None:
        by_gender.append(("placed", placements(outcomes)))
    return render(request, "womens.html", session,
                  notices=notices,
                  notice_problem=notice_problem, by_gender=by_gender,
                  problems=[p for p in (enrolment_problem, outcome_problem) if p],
                  smallest=charts.SMALLEST_GROUP)
