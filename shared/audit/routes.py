"""Every service's auditor routes (auditors only, ``Action.AUDIT``): its store's hash chain.

- ``GET /audit/chain``: the head (position, chain hash), the last sealed head the latest
  verification found, and the latest verification (state, progress, verdict);
- ``POST /audit/chain/verifications``: start a verification in the background (202); while
  one runs, the one under way is answered (200) and no other is started.

The verdict is the service's own process checking its own database against the heads it
sealed on the bus: someone who controls that process can make it lie. The auditor's
independent check is ``songji audit verify``, run with the auditor's own read-only access;
both run the same code (``shared.audit.verify``). See docs/security.md.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.audit.jobs import ChainStatus, ChainVerification, ChainVerifications
from shared.auth.identity import authenticated
from shared.auth.policy import Action, Organisation, require

router = APIRouter(prefix="/audit", tags=["audit"])

# Declares the scheme in the OpenAPI document (as ``shared.auth.http`` does, which imports the
# service module and so cannot be imported by it); the header is read by ``authenticated``.
_bearer = HTTPBearer(auto_error=False, description="The organisation's or an officer's "
                                                   "bearer token")

_ANSWERS: dict[int | str, dict[str, str]] = {
    401: {"description": "No or unknown bearer token"},
    403: {"description": "Not an auditor"},
}


async def _auditor(request: Request,
                   _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
                   ) -> Organisation:
    org = authenticated(request).organisation
    require(org, Action.AUDIT)
    return org


Auditor = Annotated[Organisation, Depends(_auditor)]


def _verifications(request: Request) -> ChainVerifications:
    return request.app.state.ctx.chain_verifications


@router.get("/chain", response_model=ChainStatus, responses=_ANSWERS,
            summary="The store's hash chain: head, last sealed head, latest verification")
async def chain_status(request: Request, _: Auditor) -> ChainStatus:
    return await _verifications(request).status()


@router.post("/chain/verifications", response_model=ChainVerification, status_code=202,
             responses={**_ANSWERS, 200: {"description": "A verification is under way "
                                                         "already: that one",
                                          "model": ChainVerification}},
             summary="Verify the store's hash chain against its sealed heads, in the background")
async def start_verification(request: Request, response: Response,
                             org: Auditor) -> ChainVerification:
    run, started = await _verifications(request).start(org.org_id)
    if not started:
        response.status_code = 200
    return run
