"""Only an organisation with the auditor role may run the auditor's tools."""

from __future__ import annotations

from shared.auth.http import current_registry
from shared.auth.policy import Action, Organisation, require


def authorise_auditor(token: str | None) -> Organisation:
    """The auditor behind ``token``; raises Unauthenticated (no/unknown token) or Forbidden."""
    org = current_registry().authenticate(f"Bearer {token}" if token else None)
    require(org, Action.AUDIT)
    return org
