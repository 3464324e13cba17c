"""Organisations for a local run: one per department, with fresh tokens.

``songji up`` writes them once into the state folder when no organisations are configured:
``organisations.json`` (token hashes only, what the services read) and ``tokens.env`` (the
tokens themselves, readable by the owner only, for curl and the demo).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from shared.auth.tokens import ENV_FILE, ENV_INLINE, hash_token, new_token

FUKANG_SITE = {"province": "新疆", "city": "阜康市"}

DEV_ORGANISATIONS: dict[str, dict[str, object]] = {
    "hr-bureau": {"role": "hr_bureau"},
    "station-fukang": {"role": "liaison_station", "sites": [FUKANG_SITE]},
    "station-putuo": {"role": "liaison_station",
                      "sites": [{"province": "上海", "city": "普陀区"}]},
    "station-wanzhi": {"role": "liaison_station",
                       "sites": [{"province": "安徽", "city": "芜湖市湾沚区"}]},
    "institution-1": {"role": "training_institution", "institution_id": "inst-1"},
    "body-1": {"role": "assessment_body", "body_id": "body-1"},
    "union": {"role": "union"},
    "womens-federation": {"role": "womens_federation"},
    "media": {"role": "media"},
    "auditor": {"role": "auditor"},
    "notifications-service": {"role": "notifications_service"},
}


def organisations_env(state_dir: Path) -> dict[str, str]:
    """The environment that tells services their organisations; generated when unset."""
    if os.environ.get(ENV_INLINE) or os.environ.get(ENV_FILE):
        return {}
    orgs_file, tokens_file = state_dir / "organisations.json", state_dir / "tokens.env"
    if not orgs_file.exists() or not tokens_file.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        tokens = {org_id: new_token() for org_id in DEV_ORGANISATIONS}
        orgs_file.write_text(json.dumps(
            [{"org_id": org_id, "token_sha256": hash_token(tokens[org_id]), **fields}
             for org_id, fields in DEV_ORGANISATIONS.items()], ensure_ascii=False, indent=2))
        tokens_file.write_text("".join(f"{org_id}={tok}\n" for org_id, tok in tokens.items()))
        tokens_file.chmod(0o600)
    return {ENV_FILE: str(orgs_file.resolve())}


def dev_tokens(state_dir: Path) -> dict[str, str]:
    lines = (state_dir / "tokens.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)
