"""The auditor: what the services' HTTP APIs say of each store, and how to verify the hash
chains.

No service answers its hash chain over HTTP: verifying a chain reads the store itself and the
heads its service sealed on the bus, which is the auditor's command-line tool's work
(``songji audit verify``; ``songji audit replay`` rebuilds the funding ledger from the
history). The console reaches only the services' public APIs, so this page shows what they
do answer (each service's health, whether it runs its relay, and its readiness: database,
migrations, broker, consumers) and the commands to run, and never claims a chain's state."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console.services import Refused
from console.sessions import Session
from console.web import Current, refusal, render, require_role
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


@router.get("", response_class=HTMLResponse)
async def home(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    stores = [await store_status(request, session, service) for service in SERVICES]
    return render(request, "audit.html", session, stores=stores, commands=COMMANDS)
