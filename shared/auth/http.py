"""The acting organisation of an HTTP request, from its bearer token (401 when missing).

The registry is read from the environment (see ``tokens.py``) and cached per configuration,
so changing ``SONGJI_ORGANISATIONS`` (as tests do) takes effect without a restart hook.
"""

from __future__ import annotations

import functools
import os
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth.policy import Organisation
from shared.auth.tokens import ENV_FILE, ENV_INLINE, OrganisationRegistry, load_registry
from shared.contracts import Actor, Metadata
from shared.runtime.service import metadata_for

USER_HEADER = "X-Acting-User"

# OpenAPI documentation of the answers every guarded command can give besides success.
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or unknown bearer token"},
    403: {"description": "Wrong role, or outside the organisation's scope (the body says which)"},
    404: {"description": "Something the request names (in its path or body) does not exist"},
    409: {"description": "A business rule is broken: machine-readable code and a sentence"},
}

_bearer = HTTPBearer(auto_error=False, description="The organisation's bearer token")


@functools.lru_cache(maxsize=4)
def _registry(inline: str | None, path: str | None) -> OrganisationRegistry:
    environ = {k: v for k, v in ((ENV_INLINE, inline), (ENV_FILE, path)) if v}
    return load_registry(environ)


def current_registry() -> OrganisationRegistry:
    return _registry(os.environ.get(ENV_INLINE), os.environ.get(ENV_FILE))


def acting_organisation(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Organisation:
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    return current_registry().authenticate(header)


Acting = Annotated[Organisation, Depends(acting_organisation)]


def acting_metadata(request: Request, org: Organisation) -> Metadata:
    """Event metadata naming the organisation and, when given, the user who acted."""
    return metadata_for(request, Actor(org=org.org_id, user=request.headers.get(USER_HEADER)))
