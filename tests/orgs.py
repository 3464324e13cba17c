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


ORG_IDS = tuple(_ORGS)


def token(org_id: str) -> str:
    return f"test-token-of-{org_id}"


def organisations_json() -> str:
    return json.dumps([{"org_id": org_id, "token_sha256": hash_token(token(org_id)), **fields}
                       for org_id, fields in _ORGS.items()])


def auth(org_id: str, user: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token(org_id)}"}
    if user:
        headers["X-Acting-User"] = user
    return headers
