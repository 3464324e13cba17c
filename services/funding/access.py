"""Who may do what in funding. The HR bureau owns policy, budget and disbursement; the
auditor reads everything; an institution reads only the lines payable to it; anyone
authenticated may raise an objection during a public notice (公示 invites them)."""

from __future__ import annotations

from shared.auth.policy import Forbidden, Organisation, Role

MANAGE: frozenset[Role] = frozenset({"hr_bureau"})
READ_ALL: frozenset[Role] = frozenset({"hr_bureau", "auditor"})


def require_role(org: Organisation, allowed: frozenset[Role], action: str) -> None:
    if org.role not in allowed:
        raise Forbidden("wrong_role", f"role {org.role} may not {action} (allowed: "
                                      f"{', '.join(sorted(allowed))})",
                        action=action, org_id=org.org_id)


def ledger_scope(org: Organisation) -> str | None:
    """None: every line; otherwise the only payee id this organisation may see."""
    if org.role in READ_ALL:
        return None
    if org.role == "training_institution" and org.institution_id:
        return org.institution_id
    raise Forbidden("wrong_role", f"role {org.role} may not read the ledger",
                    action="view_ledger", org_id=org.org_id)
