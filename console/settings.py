"""Where the console finds the services, the organisations and its own sign-in accounts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from console.sessions import parse_keys
from shared.eventsourcing.topics import SERVICES

DEFAULT_BASE_PORT = 8001


@dataclass(frozen=True)
class ConsoleSettings:
    service_urls: dict[str, str]
    # username -> password sign-in: a JSON list of {"username", "org_id", "password_scrypt"}
    users_file: Path | None = None
    # the organisations' bearer tokens (``org_id=token`` lines, as `songji up` writes them):
    # needed only for password sign-in, which must act with the organisation's token
    tokens_file: Path | None = None
    session_minutes: int = 30
    secure_cookies: bool = False  # set when served over https
    # the console's own state (its sessions file, see console/sessions.py); None: in memory
    state_dir: Path | None = None
    # encrypts the organisations' tokens in the sessions file: the first key seals, every one
    # opens (``SONGJI_CONSOLE_SESSION_KEY``, comma-separated url-safe base64, 32 bytes each)
    session_keys: tuple[bytes, ...] = ()
    environ: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConsoleSettings:
        env = dict(os.environ if environ is None else environ)
        base = int(env.get("SONGJI_BASE_PORT", DEFAULT_BASE_PORT))
        urls = {name: env.get(f"SONGJI_{name.upper()}_URL", f"http://127.0.0.1:{base + i}")
                for i, name in enumerate(SERVICES)}
        users = env.get("SONGJI_CONSOLE_USERS_FILE")
        tokens = env.get("SONGJI_CONSOLE_TOKENS_FILE")
        state = env.get("SONGJI_CONSOLE_STATE_DIR")
        return cls(service_urls=urls,
                   users_file=Path(users) if users else None,
                   tokens_file=Path(tokens) if tokens else None,
                   session_minutes=int(env.get("SONGJI_CONSOLE_SESSION_MINUTES", "30")),
                   secure_cookies=env.get("SONGJI_CONSOLE_HTTPS", "").lower() == "true",
                   state_dir=Path(state) if state else None,
                   session_keys=tuple(parse_keys(env.get("SONGJI_CONSOLE_SESSION_KEY", ""))),
                   environ=env)
