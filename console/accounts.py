"""Who may sign in: an organisation's bearer token (checked against the organisations file
the services read), or a username and password that the console's users file maps to one of
those organisations.

Passwords are kept as scrypt hashes (``scrypt$n$r$p$salt$hash``, hex), compared in constant
time; ``python -m console.accounts hash`` prints one for a password read from stdin.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from shared.auth.policy import Identity
from shared.auth.tokens import OrganisationRegistry, load_registry
from shared.infra.dev_organisations import dev_tokens

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n),
                                   r=int(r), p=int(p), dklen=len(bytes.fromhex(digest)))
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)


# Checked against when the username is unknown, so that an unknown user costs one scrypt too.
_NO_USER = hash_password(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SignedIn:
    """An organisation signed in: its identity and the token the console acts with."""

    identity: Identity
    token: str

    @property
    def org_id(self) -> str:
        return self.identity.organisation.org_id

    @property
    def role(self) -> str:
        return self.identity.organisation.role


class Accounts:
    def __init__(self, registry: OrganisationRegistry, users_file: Path | None,
                 tokens_file: Path | None) -> None:
        self.registry = registry
        self.users_file = users_file
        self.tokens_file = tokens_file

    @classmethod
    def load(cls, users_file: Path | None, tokens_file: Path | None) -> Accounts:
        return cls(load_registry(), users_file, tokens_file)

    def with_token(self, token: str) -> SignedIn | None:
        identity = self.registry.identify(token.strip())
        return SignedIn(identity, token.strip()) if identity is not None else None

    def with_password(self, username: str, password: str) -> SignedIn | None:
        """The user's organisation when the password matches. A check runs even for an
        unknown user, so the answer takes as long either way."""
        users = self._users()
        user = users.get(username)
        stored = user["password_scrypt"] if user else _NO_USER
        if not password_matches(password, stored) or user is None or self.tokens_file is None:
            return None
        token = dev_tokens_file(self.tokens_file).get(user["org_id"])
        return self.with_token(token) if token else None

    def _users(self) -> dict[str, dict[str, str]]:
        if self.users_file is None or not self.users_file.exists():
            return {}
        return {u["username"]: u for u in json.loads(self.users_file.read_text())}


def dev_tokens_file(path: Path) -> dict[str, str]:
    return dev_tokens(path.parent) if path.name == "tokens.env" else dict(
        line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def write_users_file(path: Path, users: dict[str, tuple[str, str]]) -> None:
    """``users``: username -> (org_id, password). Written with hashes only, owner-readable."""
    path.write_text(json.dumps([
        {"username": name, "org_id": org, "password_scrypt": hash_password(password)}
        for name, (org, password) in users.items()], indent=2))
    path.chmod(0o600)


def main(argv: list[str]) -> int:
    if argv[:1] != ["hash"]:
        print("usage: python -m console.accounts hash < password", file=sys.stderr)
        return 2
    print(hash_password(sys.stdin.readline().rstrip("\n")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
