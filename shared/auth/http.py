"""The acting organisation of an HTTP request, from its bearer token (401 when missing).

Every route is authenticated by the app (``shared/auth/identity.py``); ``Acting`` gives a
route the organisation whose permissions it checks, and ``acting_metadata`` the actor its events
record: the organisation and, for an officer's own token, the officer. Nothing in the request's
body or headers can name someone else.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth.identity import authenticated, current_registry
from shared.auth.policy import Organisation
from shared.contracts import Actor, Metadata
from shared.runtime.service import metadata_for

__all__ = ["REFUSALS", "Acting", "acting_metadata", "acting_organisation",
           "current_registry"]

# OpenAPI documentation of the answers every guarded command can give besides success.
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or unknown bearer token"},
    403: {"description": "Wrong role, or outside the organisation's scope (the body says which)"},
    404: {"description": "Something the request names (in its path or body) does not exist"},
    409: {"description": "A business rule is broken: machine-readable code and a sentence"},
}

# Declares the scheme in the OpenAPI document; the header itself is read by ``authenticated``.
_bearer = HTTPBearer(auto_error=False, description="The organisation's or an officer's "
                                                   "bearer token")


async def acting_organisation(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Organisation:
    return authenticated(request).organisation


Acting = Annotated[Organisation, Depends(acting_organisation)]


def acting_metadata(request: Request, org: Organisation) -> Metadata:
    """Event metadata naming the organisation and, for an officer's token, the officer."""
    identity = authenticated(request)
    if identity.organisation != org:  # a programming error: the org must be the token's
        raise RuntimeError("the acting organisation is not the request's")
    return metadata_for(request, Actor(org=org.org_id, user=identity.user))
