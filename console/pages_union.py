"""The trade union: its follow-up list (the notices notifications addressed to it: the newly
certified, the newly placed) and an objection to a line of a batch during its public notice."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console.pages_womens import followups
from console.services import seg
from console.web import (
    Current,
    checked_form,
    language,
    render,
    require_role,
    see_other,
    sent,
)

router = APIRouter(prefix="/union")
ROLE = "union"
RECIPIENT = "trade_union"  # notifications' department key of the trade union
GROUNDS = ("not_attended", "not_eligible", "duplicate", "wrong_amount", "other")


@router.get("", response_class=HTMLResponse)
async def home(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    notices, notice_problem = await followups(request, session, RECIPIENT)
    return render(request, "union.html", session, grounds=GROUNDS, notices=notices,
                  notice_problem=notice_problem)


@router.post("/objections")
async def object_to(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    f = await checked_form(request, session)
    body = {"objection_id": f.get("objection_id", ""), "line_id": f.get("line_id", ""),
            "ground": f.get("ground", "")}
    await sent(request, session, "funding", f"/batches/{seg(f.get('batch_id', ''))}/objections",
               body, done="已提交" if language(request) == "zh-CN" else "Raised")
    return see_other("/union")
