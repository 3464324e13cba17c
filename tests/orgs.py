"""Organisations and bearer tokens the integration and end-to-end tests act as."""

from __future__ import annotations

import json

from shared.auth.tokens import hash_token

FUKANG = {"province": "新疆", "city": "阜康市", "site_name": "阜康工业园"}
PUTUO = {"province": "上海", "city": "普陀区", "site_name": "长征镇"}

_ORGS: dict[str, dict[str, object]] = {
    "hr": {"role": "hr_bureau"},
    "station-fukang": {"role": "liaison_station",
                       "sites": [{"province": "新疆", "city": "阜康市"}]},
    "station-putuo": {"role": "liaison_station", "sites": [{"province": "上海", "city": "普陀区"}]},
    "org-inst-1": {"role": "training_institution", "institution_id": "inst-1"},
    "org-inst-2": {"role": "training_institution", "institution_id": "inst-2"},
    "org-body-1": {"role": "assessment_body", "body_id": "body-1"},
    "media": {"role": "media"},
    "auditor": {"role": "auditor"},
    "notifications-service": {"role": "notifications_service"},
}


# Officers with tokens of their own: a request with one acts as that officer.
_USERS: dict[str, tuple[str, ...]] = {
    "hr": ("hr-officer-1", "hr-officer-2"),
    "station-fukang": ("liaison-7",),
    "org-inst-1": ("teacher-admin",),
    "org-body-1": ("exam-1",),
}

ORG_IDS = tuple(_ORGS)


def token(org_id: str, user: str | None = None) -> str:
    if user is None:
        return f"test-token-of-{org_id}"
    if user not in _USERS.get(org_id, ()):
        raise ValueError(f"no user {user} in {org_id} (see tests/orgs.py)")
    return f"test-token-of-{org_id}-user-{user}"


def organisations_json() -> str:
    return json.dumps([
        {"org_id": org_id, "token_sha256": hash_token(token(org_id)), **fields,
         "users": [{"user_id": u, "token_sha256": hash_token(token(org_id, u))}
                   for u in _USERS.get(org_id, ())]}
        for org_id, fields in _ORGS.items()])


def auth(org_id: str, user: str | None = None) -> dict[str, str]:
    """The headers of a request by ``org_id``, or by its officer ``user`` (their own token)."""
    return {"Authorization": f"Bearer {token(org_id, user)}"}
