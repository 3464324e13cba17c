"""The HR bureau: approve classes; funding policy versions and publishing one (its recompute
job's progress shown); the budget; the ledger with filters and batch approval; a batch's
public notice and objections; the bank file; payment confirmation; the grant calculator."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console import policy_form
from console.form_rows import first_refused, show_refusal
from console.i18n import fen_of
from console.policy_form import PolicyForm
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
from shared.runtime.paging import next_link
from songji.demo.steps import policy_body

router = APIRouter(prefix="/hr")
ROLE = "hr_bureau"
LEDGER_FILTERS = ("status", "class_id", "worker_id", "payee_id", "fund")
# Classes waiting for approval shown in the task queue: the oldest first page of them (by
# class id); more are said to follow and are approved by id in the form below.
PENDING_SHOWN = 50


def _done(request: Request) -> str:
    return "已完成" if language(request) == "zh-CN" else "Done"


def newest_form(policies: list[dict[str, Any]]) -> PolicyForm:
    """The new-version form, filled in from the version taking effect last (the list is in
    the order they take effect), or from the example policy while none is published."""
    if not policies:
        return PolicyForm.of_policy(policy_body())
    newest = policies[-1]
    return PolicyForm.of_policy(newest, (str(newest["policy_id"]), int(newest["version"])))


async def _home(request: Request, session: Session, form: PolicyForm | None) -> Response:
    due, _ = await read(request, session, "funding", "/ledger",
                            {"status": "due", "limit": 500})
    budget, budget_problem = await read(request, session, "funding", "/budget")
    policies, _ = await read(request, session, "funding", "/policies")
    clock, _ = await read(request, session, "funding", "/test-clock")
    pending, pending_more, pending_problem = await classes_awaiting_approval(request, session)
    form = form or newest_form(policies or [])
    return _show(request, session, "hr.html", form, due=due or [], budget=budget or [],
                 budget_problem=budget_problem, policies=policies or [], clock=clock,
                 pending=pending, pending_more=pending_more, pending_problem=pending_problem)


def _show(request: Request, session: Session, template: str, form: PolicyForm,
          **context: Any) -> Response:
    """A form with problems answers 422 to a plain post; htmx swaps only 2xx answers, so it
    gets 200 (and the address bar keeps /hr)."""
    htmx = bool(request.headers.get("HX-Request"))
    form.focus = form.focus or first_refused(form.errors)
    response = render(request, template, session,
                      status_code=422 if form.errors and not htmx else 200, form=form,
                      **context)
    if htmx and template == "hr.html":
        response.headers["HX-Push-Url"] = "/hr"
        if form.errors:
            response.headers["HX-Reswap"] = show_refusal(form.errors, form.focus)
    return response


@router.get("", response_class=HTMLResponse)
async def home(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    return await _home(request, session, None)


async def classes_awaiting_approval(request: Request, session: Session
                                   ) -> tuple[list[dict[str, Any]], bool, str | None]:
    """The first page of the classes waiting for the bureau's approval (training's
    ``GET /classes?state=awaiting_approval``), whether more follow, and what training
    refused."""
    try:
        response = await api(request).call(
            session.signed_in.token, "GET", "training", "/classes",
            params={"state": "awaiting_approval", "limit": str(PENDING_SHOWN)})
    except Refused as refused:
        return [], False, refusal(request, refused)
    return response.json(), next_link(response) is not None, None


@router.post("/approvals")
async def approve(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    f = await checked_form(request, session)
    class_id = f.get("class_id", "")
    await sent(request, session, "training", f"/classes/{seg(class_id)}/approval",
               done=f"{_done(request)}: {class_id}")
    return see_other("/hr")


@router.post("/policy-editor", response_class=HTMLResponse)
async def policy_editor(request: Request, session: Current) -> Response:
    """htmx: the policy form with a rate or an uplift row added or removed (nothing sent)."""
    require_role(session, ROLE)
    f = await checked_form(request, session)
    form = policy_form.edited(f) or PolicyForm.as_typed(f)
    return _show(request, session, "hr_policy_form.html", form)


@router.post("/policies")
async def publish(request: Request, session: Current) -> Response:
    """Publishes the version in one request to funding, once every field reads right, then
    shows its recompute job's progress; a row added or removed (without JavaScript) shows
    the form again, sending nothing."""
    require_role(session, ROLE)
    f = await checked_form(request, session)
    edited = policy_form.edited(f)
    if edited is not None:
        return await _home(request, session, edited)
    lang = language(request)
    parsed = policy_form.read_policy_form(f, lang)
    if parsed.body is None:
        return await _home(request, session, parsed.form)
    try:
        response = await api(request).call(session.signed_in.token, "POST", "funding",
                                           "/policies", json=parsed.body)
    except Refused as refused:
        policy_form.place_refusal(parsed, refused, lang)
        return await _home(request, session, parsed.form)
    return see_other(f"/hr{response.headers.get('Location', '/jobs/_')}")


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job(job_id: str, request: Request, session: Current) -> Response:
    """A recompute job's progress; the page (or its htmx fragment) refreshes until done."""
    require_role(session, ROLE)
    found, problem = await read(request, session, "funding", f"/jobs/{seg(job_id)}")
    template = "partials/job.html" if request.headers.get("HX-Request") and \
        not request.headers.get("HX-Boosted") else "hr_job.html"
    return render(request, template, session, job=found, problem=problem, job_id=job_id)


@router.post("/allocations")
async def allocate(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    f = await checked_form(request, session)
    try:
        body = {"allocation_id": f.get("allocation_id", ""), "fund": f.get("fund", ""),
                "amount_fen": fen_of(f.get("amount_yuan", "")),
                "reference": f.get("reference", "")}
    except ValueError:
        session.say("invalid_request: amount", "error")
        return see_other("/hr")
    await sent(request, session, "funding", "/budget/allocations", body, done=_done(request))
    return see_other("/hr")


@router.get("/estimate", response_class=HTMLResponse)
async def estimate(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    params = {k: v for k, v in request.query_params.items()
              if k in ("occupation", "level", "province", "city", "first_session", "days")}
    found, problem = await read(request, session, "funding", "/grants/estimate", params)
    return render(request, "partials/estimate.html", session, found=found, problem=problem)


@router.get("/ledger", response_class=HTMLResponse)
async def ledger(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    wanted = {k: v for k in LEDGER_FILTERS if (v := request.query_params.get(k, "").strip())}
    lines, problem = await read(request, session, "funding", "/ledger",
                                    {**wanted, "limit": 500})
    lines = lines or []
    template = "partials/ledger_table.html" if request.headers.get("HX-Request") and \
        not request.headers.get("HX-Boosted") else "hr_ledger.html"
    return render(request, template, session, lines=lines, wanted=wanted, problem=problem,
                  filters=LEDGER_FILTERS,
                  total=sum(x["amount_fen"] for x in lines))


@router.post("/batches")
async def approve_batch(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    form = await request.form()
    f = await checked_form(request, session)
    line_ids = [v for v in form.getlist("line_id") if isinstance(v, str)]
    batch_id = f.get("batch_id", "")
    ok, _ = await sent(request, session, "funding", "/batches",
                       {"batch_id": batch_id, "line_ids": line_ids},
                       done=f"{_done(request)}: {batch_id} ({len(line_ids)})")
    return see_other(f"/hr/batches/{seg(batch_id)}" if ok else "/hr/ledger?status=due")


@router.get("/batches", response_class=HTMLResponse)
async def open_batch(request: Request, session: Current,
                     batch_id: str = "") -> Response:
    return see_other(f"/hr/batches/{seg(batch_id)}")


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
async def batch(batch_id: str, request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    found, problem = await read(request, session, "funding", f"/batches/{seg(batch_id)}")
    lines, _ = await read(request, session, "funding", "/ledger", {"limit": 500}) \
        if found else (None, None)
    in_batch = [x for x in lines or [] if x.get("batch_id") == batch_id]
    clock, _ = await read(request, session, "funding", "/test-clock")
    return render(request, "hr_batch.html", session, batch_id=batch_id, batch=found,
                  problem=problem, lines=in_batch, clock=clock,
                  payees=sorted({x["payee_id"] for x in in_batch}))


@router.post("/batches/{batch_id}/objections/{objection_id}")
async def resolve(batch_id: str, objection_id: str, request: Request,
                  session: Current) -> Response:
    require_role(session, ROLE)
    f = await checked_form(request, session)
    await sent(request, session, "funding",
               f"/batches/{seg(batch_id)}/objections/{seg(objection_id)}/resolution",
               {"outcome": f.get("outcome", "")}, done=_done(request))
    return see_other(f"/hr/batches/{seg(batch_id)}")


def parse_accounts(text: str) -> dict[str, dict[str, str]]:
    """One account a line: ``payee_id,account name,account number,bank code``."""
    accounts = {}
    for number, line in enumerate(text.strip().splitlines(), start=1):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 4:
            raise ValueError(f"line {number}")
        payee, name, account, bank = parts
        accounts[payee] = {"account_name": name, "account_number": account, "bank_code": bank}
    return accounts


@router.post("/batches/{batch_id}/instructions")
async def instruct(batch_id: str, request: Request,
                   session: Current) -> Response:
    """The payment instruction; its bank file comes back as a download."""
    require_role(session, ROLE)
    f = await checked_form(request, session)
    try:
        body = {"instruction_id": f.get("instruction_id", ""),
                "accounts": parse_accounts(f.get("accounts", ""))}
    except ValueError as exc:
        session.say(f"invalid_request: {exc}", "error")
        return see_other(f"/hr/batches/{seg(batch_id)}")
    try:
        answer = await api(request).call(session.signed_in.token, "POST", "funding",
                                         f"/batches/{seg(batch_id)}/instructions", json=body)
    except Refused as refused:
        session.say(refusal(request, refused), "error")
        return see_other(f"/hr/batches/{seg(batch_id)}")
    name = f"{seg(body['instruction_id'])}.txt"
    return Response(answer.content, media_type=answer.headers.get("content-type", "text/plain"),
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-File-SHA256": answer.headers.get("X-File-SHA256", "")})


@router.post("/batches/{batch_id}/confirmations")
async def confirm(batch_id: str, request: Request,
                  session: Current) -> Response:
    require_role(session, ROLE)
    f = await checked_form(request, session)
    body = {"instruction_id": f.get("instruction_id", ""),
            "bank_reference": f.get("bank_reference", ""),
            "failed_line_ids": [x.strip() for x in f.get("failed_lines", "").split(",")
                                if x.strip()]}
    await sent(request, session, "funding", f"/batches/{seg(batch_id)}/confirmations", body,
               done=_done(request))
    return see_other(f"/hr/batches/{seg(batch_id)}")


@router.post("/test-clock")
async def move_clock(request: Request, session: Current) -> Response:
    """Rehearsals only (funding's SONGJI_TEST_CLOCK): let a public notice run its days."""
    require_role(session, ROLE)
    f = await checked_form(request, session)
    try:
        await api(request).post(session.signed_in.token, "funding", "/test-clock",
                                {"days": int(f.get("days", "0"))})
        session.say(_done(request))
    except (Refused, ValueError) as exc:
        session.say(refusal(request, exc) if isinstance(exc, Refused) else str(exc), "error")
    return see_other(f.get("back", "/hr") if f.get("back", "").startswith("/hr") else "/hr")
