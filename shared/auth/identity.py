"""Who sends an HTTP request, from its bearer token; every route needs one unless it is public.

``require_token`` is a dependency of every service's whole app (shared/runtime/service.py), so a
route added later is guarded without saying so; only the routes named in ``PUBLIC_ROUTES`` (and
``PUBLIC_PREFIXES``) answer without a token: liveness, readiness, the metrics and the event
catalogue (what an orchestrator and Prometheus read; in production the network policy decides
who reaches them). The OpenAPI pages (``/docs``, ``/openapi.json``, ``/docs/oauth2-redirect``,
``/redoc``) are plain routes outside the app's dependencies, so they are public too. Which route
is public is decided on the route that matched (its declared path), never on the request's path
as written.

The registry is read from the environment (see ``tokens.py``) and cached per configuration,
so changing ``SONGJI_ORGANISATIONS`` (as tests do) takes effect without a restart hook. A
request is authenticated once: the identity is kept on the request for the route's own
dependencies (``shared/auth/http.py``).
"""

from __future__ import annotations

import functools
import os

from fastapi import Request
from fastapi.routing import APIRoute

from shared.auth.policy import Identity
from shared.auth.tokens import ENV_FILE, ENV_INLINE, OrganisationRegistry, load_registry

PUBLIC_ROUTES: frozenset[str] = frozenset({"/health", "/ready", "/metrics"})
PUBLIC_PREFIXES: tuple[str, ...] = ("/events/",)  # the AsyncAPI document and JSON Schemas


@functools.lru_cache(maxsize=4)
def _registry(inline: str | None, path: str | None) -> OrganisationRegistry:
    environ = {k: v for k, v in ((ENV_INLINE, inline), (ENV_FILE, path)) if v}
    return load_registry(environ)


def current_registry() -> OrganisationRegistry:
    return _registry(os.environ.get(ENV_INLINE), os.environ.get(ENV_FILE))


def is_public(route_path: str) -> bool:
    """Whether a route (by its declared path, e.g. ``/events/schemas/{ce_type}``) is open."""
    return route_path in PUBLIC_ROUTES or route_path.startswith(PUBLIC_PREFIXES)


def authenticated(request: Request) -> Identity:
    """The request's identity (401 without a known bearer token), looked up once per request."""
    known: Identity | None = getattr(request.state, "identity", None)
    if known is None:
        known = current_registry().authenticate_identity(request.headers.get("Authorization"))
        request.state.identity = known
    return known


async def require_token(request: Request) -> None:
    """App-wide dependency: 401 unless the route that matched is public. (``async``, as every
    dependency here: FastAPI runs a plain ``def`` dependency on a worker thread, a hand-off
    that costs more than the check itself.)"""
    route = request.scope.get("route")
    if isinstance(route, APIRoute) and is_public(route.path):
        return
    authenticated(request)
