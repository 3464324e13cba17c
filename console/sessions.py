"""Server-side sessions: the cookie carries a random id only; the organisation's token stays
in this process. A session ends at sign-out or after ``minutes`` without a request."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

from console.accounts import SignedIn

COOKIE = "songji_console"


@dataclass
class Session:
    signed_in: SignedIn
    csrf: str
    expires_at: float
    flash: list[tuple[str, str]] = field(default_factory=list)  # (ok|error, text)
    # an answer to show once on the page the action returns to (a register's lines, say)
    shown: dict[str, object] = field(default_factory=dict)

    def say(self, text: str, kind: str = "ok") -> None:
        self.flash.append((kind, text))

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.csrf)


class SessionStore:
    def __init__(self, minutes: int) -> None:
        self.seconds = minutes * 60
        self._sessions: dict[str, Session] = {}

    def start(self, signed_in: SignedIn) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        session = Session(signed_in, secrets.token_urlsafe(32), time.monotonic() + self.seconds)
        self._sessions[session_id] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session, its expiry pushed back; None (and forgotten) once expired."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = time.monotonic()
        if now >= session.expires_at:
            del self._sessions[session_id]
            return None
        session.expires_at = now + self.seconds
        return session

    def end(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)
