"""Organisations, their users and their bearer tokens, configured from a file or the environment.

Only the SHA-256 of each token is kept (in the config and in memory). Tokens are long random
secrets (``new_token``: 256 bits) handed to a department or one of its officers, not passwords
a person chooses, so a fast unsalted hash is enough: nothing can be guessed from it, a leaked
config grants nothing, and a slow hash would only cost every request its time. A token is found
by its hash, so no comparison with a stored token runs on the token itself.

``SONGJI_ORGANISATIONS`` holds the JSON list itself; ``SONGJI_ORGANISATIONS_FILE`` names a
JSON file with it. Each entry: ``{"org_id", "role", "token_sha256", "sites"?,
"institution_id"?, "body_id"?, "users"?}``; ``users`` lists the organisation's officers, each
``{"user_id", "token_sha256"}``. A request with an officer's token acts as that officer of that
organisation (the events name both); with the organisation's own token it names no officer.
Who acted is taken from the token only, never from the request's body or headers.
``python -m shared.auth.tokens new`` prints a fresh token and its hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from shared.auth.policy import Identity, Organisation, Role, SiteScope, Unauthenticated

ENV_INLINE = "SONGJI_ORGANISATIONS"
ENV_FILE = "SONGJI_ORGANISATIONS_FILE"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class SiteScopeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    province: str
    city: str
    site_name: str | None = None


TOKEN_SHA256 = r"^[0-9a-f]{64}$"


class UserConfig(BaseModel):
    """An officer of an organisation, with a token of their own (see ``ce_actoruser``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # what events carry as the acting user: short, printable, no personal data (an id, not a name)
    user_id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
    token_sha256: str = Field(pattern=TOKEN_SHA256)


class OrganisationConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    org_id: str = Field(min_length=1)
    role: Role
    token_sha256: str = Field(pattern=TOKEN_SHA256)
    sites: list[SiteScopeConfig] = Field(default_factory=list)
    institution_id: str | None = None
    body_id: str | None = None
    users: list[UserConfig] = Field(default_factory=list, max_length=10_000)

    @model_validator(mode="after")
    def _scope_matches_role(self) -> OrganisationConfig:
        # A scoped role without its scope could never act; say so at start-up, not at 403.
        if self.role == "liaison_station" and not self.sites:
            raise ValueError(f"{self.org_id}: a liaison station needs its sites")
        if self.role == "training_institution" and not self.institution_id:
            raise ValueError(f"{self.org_id}: a training institution needs its institution_id")
        if self.role == "assessment_body" and not self.body_id:
            raise ValueError(f"{self.org_id}: an assessment body needs its body_id")
        user_ids = [u.user_id for u in self.users]
        if len(set(user_ids)) != len(user_ids):
            raise ValueError(f"{self.org_id}: a user is listed twice")
        return self

    def organisation(self) -> Organisation:
        return Organisation(
            org_id=self.org_id, role=self.role,
            sites=tuple(SiteScope(s.province, s.city, s.site_name) for s in self.sites),
            institution_id=self.institution_id, body_id=self.body_id,
        )


_CONFIGS = TypeAdapter(list[OrganisationConfig])


class OrganisationRegistry:
    def __init__(self, configs: Iterable[OrganisationConfig]) -> None:
        self._by_hash: dict[str, Identity] = {}
        org_ids: set[str] = set()
        for config in configs:
            if config.org_id in org_ids:
                raise ValueError(f"{config.org_id}: organisation is listed twice")
            org_ids.add(config.org_id)
            org = config.organisation()
            holders = [(config.token_sha256, Identity(org)),
                       *((u.token_sha256, Identity(org, u.user_id)) for u in config.users)]
            for digest, identity in holders:
                if digest in self._by_hash:  # one token, two identities: which one acted?
                    raise ValueError(f"{config.org_id}: a token is shared with another "
                                     "organisation or user")
                self._by_hash[digest] = identity

    def __len__(self) -> int:
        """How many tokens are known (organisations' and users')."""
        return len(self._by_hash)

    def identify(self, token: str) -> Identity | None:
        # Looking up by hash leaks nothing about stored tokens through timing.
        return self._by_hash.get(hash_token(token))

    def authenticate_identity(self, authorization: str | None) -> Identity:
        """Who is behind an ``Authorization: Bearer <token>`` header (organisation and, for
        an officer's token, the officer), or 401."""
        if not authorization:
            raise Unauthenticated("missing_token", "A bearer token is required.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("missing_token", "Use 'Authorization: Bearer <token>'.")
        identity = self.identify(token.strip())
        if identity is None:
            raise Unauthenticated("unknown_token", "The bearer token is not recognised.")
        return identity

    def authenticate(self, authorization: str | None) -> Organisation:
        """The organisation behind an ``Authorization: Bearer <token>`` header, or 401."""
        return self.authenticate_identity(authorization).organisation


def parse_organisations(text: str) -> list[OrganisationConfig]:
    return _CONFIGS.validate_json(text)


def load_registry(environ: Mapping[str, str] | None = None) -> OrganisationRegistry:
    """From ``SONGJI_ORGANISATIONS`` (JSON) or the file ``SONGJI_ORGANISATIONS_FILE``."""
    env = os.environ if environ is None else environ
    if env.get(ENV_INLINE):
        return OrganisationRegistry(parse_organisations(env[ENV_INLINE]))
    if env.get(ENV_FILE):
        return OrganisationRegistry(parse_organisations(Path(env[ENV_FILE]).read_text()))
    return OrganisationRegistry([])


def _main(argv: list[str]) -> int:
    if argv[:1] == ["new"]:
        token = new_token()
        print(json.dumps({"token": token, "token_sha256": hash_token(token)}))
        return 0
    if argv[:1] == ["hash"] and len(argv) == 2:
        print(hash_token(argv[1]))
        return 0
    print("usage: python -m shared.auth.tokens new | hash TOKEN", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
