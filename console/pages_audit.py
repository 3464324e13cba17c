"""The auditor: each store's hash chain as its service answers it, with a button to verify it,
and the funding replay's last verdict, with a button to run it.

- Each service's chain (its auditor routes, ``GET /audit/chain``): head position and chain
  hash, the last sealed head found, the latest verification's state, progress (positions
  checked of the head at its start) and verdict (the first bad position and why). "Verify"
  asks the service to verify its chain in the background (``POST
  /audit/chain/verifications``); the row refreshes itself (htmx) until the run is over. The
  verdict is the service's own process checking its own database: ``songji audit verify``,
  run with the auditor's own access, stays the independent check (the commands are shown).
- The replay (``songji audit replay``) reads the topics and the stores: the console runs that
  command for the auditor (``console.audit_replay``: one at a time, bounded in time, its last
  verdict kept in the console's state directory) and shows its progress and verdict.
- Each service's /health and /ready: a store that does not answer is shown with why.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from console import i18n
from console.audit_replay import ReplayRunner
from console.services import Refused
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
)
from console.web import services as api
from shared.eventsourcing.topics import SERVICES

router = APIRouter(prefix="/audit")
ROLE = "auditor"
COMMANDS = ("songji audit verify", "songji audit verify --no-seals",
            "songji audit replay --source topics",
            "songji audit replay --source stores --as-of 2025-08-08T00:00:00+08:00")


async def store_status(request: Request, session: Session, service: str) -> dict[str, Any]:
    """A service's /health (relay active or standby) and /ready checks; a service that does not
    answer is shown with why."""
    token = session.signed_in.token
    status: dict[str, Any] = {"service": service, "relay": None, "checks": None,
                              "problem": None}
    try:
        _, health = await api(request).probe(token, service, "/health")
        _, ready = await api(request).probe(token, service, "/ready")
    except Refused as refused:
        status["problem"] = refusal(request, refused)
        return status
    if isinstance(health, dict):
        status["relay"] = health.get("relay")
    if isinstance(ready, dict) and isinstance(ready.get("checks"), dict):
        status["checks"] = ready["checks"]
    else:
        status["problem"] = "ready: no checks answered"
    return status


async def chain_status(request: Request, session: Session, service: str) -> dict[str, Any]:
    """The service's answer to ``GET /audit/chain``, or why there is none."""
    found, problem = await read(request, session, service, "/audit/chain")
    return {"service": service, "chain": found, "problem": problem}


def _known(service: str) -> str:
    if service not in SERVICES:
        raise HTTPException(404, "no such service")
    return service


def _fragment(request: Request) -> bool:
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-Boosted")


def _replay(request: Request) -> ReplayRunner:
    return request.app.state.replay


@router.get("", response_class=HTMLResponse)
async def home(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    stores = [await store_status(request, session, service) for service in SERVICES]
    chains = [await chain_status(request, session, service) for service in SERVICES]
    return render(request, "audit.html", session, stores=stores, chains=chains,
                  commands=COMMANDS, replay=_replay(request).last(),
                  replay_running=_replay(request).running)


@router.get("/chain/{service}", response_class=HTMLResponse)
async def chain(service: str, request: Request, session: Current) -> Response:
    """One store's chain row (the htmx poll while its verification runs)."""
    require_role(session, ROLE)
    found = await chain_status(request, session, _known(service))
    if not _fragment(request):
        return see_other("/audit")
    return render(request, "partials/audit_chain.html", session, c=found)


@router.post("/chain/{service}/verify")
async def verify(service: str, request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    await checked_form(request, session)
    try:
        response = await api(request).call(session.signed_in.token, "POST", _known(service),
                                           "/audit/chain/verifications")
    except Refused as refused:
        session.say(refusal(request, refused), "error")
        return see_other("/audit")
    key = "chain_verify_started" if response.status_code == 202 else "chain_verify_running"
    session.say(f"{service}: {i18n.translate(language(request), key)}")
    return see_other(f"/audit#chain-{service}")


@router.get("/replay", response_class=HTMLResponse)
async def replay_status(request: Request, session: Current) -> Response:
    """The replay's state (the htmx poll while it runs)."""
    require_role(session, ROLE)
    if not _fragment(request):
        return see_other("/audit")
    return render(request, "partials/audit_replay.html", session,
                  replay=_replay(request).last(), replay_running=_replay(request).running)


@router.post("/replay")
async def run_replay(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    await checked_form(request, session)
    started = _replay(request).start(session.signed_in.org_id, session.signed_in.token)
    session.say(i18n.translate(language(request),
                               "replay_started" if started else "replay_running"),
                "ok" if started else "error")
    return see_other("/audit#replay")
