"""Server-side sessions, kept in a small SQLite file in the console's state directory so that a
restart of the console signs no one out. The cookie carries a random id only.

Why a server-side file and not a signed, encrypted cookie:

- sign-out and the 30-minute idle expiry are decided here: deleting the row ends the session at
  once, everywhere. A cookie holding the session would need a server-side revocation list for
  sign-out anyway, and would have to be re-issued on every request to slide its idle expiry;
- the browser never holds the organisation's bearer token, not even encrypted: a stolen cookie
  (or one kept by a shared computer) cannot be decrypted offline or replayed after sign-out;
- a session holds what a page shows once (a session register's outcome, say), more than a
  4 KB cookie carries.

What the file holds, one row a session: the SHA-256 of the session id (never the id itself, so
that a copy of the file opens no session), the organisation's token encrypted with AES-256-GCM
under the console's session key (``SONGJI_CONSOLE_SESSION_KEY``, with the row's id hash as
associated data, so a token cannot be moved to another row), the CSRF token, the idle expiry
(wall-clock seconds, which, unlike a monotonic clock, mean the same after a restart) and the
messages still to show. The organisation's identity is not stored: it is found again from the
token on each request, so an organisation whose token has been withdrawn from the
organisations file is signed out.

Keys: the first of ``keys`` encrypts; every one of them decrypts (a key being rotated in is put
first, the old one kept after it until the sessions it sealed have expired). A row no key
opens is a session that has ended.

Without a state directory (the unit tests, a console run by hand), the database is in memory
and the key random: sessions then last as long as the process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from console.accounts import SignedIn

COOKIE = "songji_console"
FILE_NAME = "console-sessions.sqlite3"
KEY_BYTES = 32
NONCE_BYTES = 12


@dataclass
class Session:
    signed_in: SignedIn
    csrf: str
    expires_at: float
    flash: list[tuple[str, str]] = field(default_factory=list)  # (ok|error, text)
    # an answer to show once on the page the action returns to (a register's lines, say)
    shown: dict[str, object] = field(default_factory=dict)
    # what the store last wrote of ``flash`` and ``shown``: saved again only when changed
    stored: str = field(default="", repr=False)

    def say(self, text: str, kind: str = "ok") -> None:
        self.flash.append((kind, text))

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.csrf)

    def pending(self) -> str:
        return json.dumps({"flash": self.flash, "shown": self.shown}, ensure_ascii=False,
                          sort_keys=True)


def parse_keys(text: str) -> list[bytes]:
    """``SONGJI_CONSOLE_SESSION_KEY``: comma-separated url-safe base64 keys of 32 bytes."""
    keys = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        if len(key) != KEY_BYTES:
            raise ValueError("a console session key is 32 bytes, url-safe base64")
        keys.append(key)
    return keys


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode().rstrip("=")


def _id_hash(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


class SessionStore:
    """Sessions by cookie id. ``identify`` turns a stored token back into who is signed in
    (None when the token is no longer known)."""

    def __init__(self, minutes: int, identify: Callable[[str], SignedIn | None], *,
                 path: Path | None = None, keys: Sequence[bytes] = ()) -> None:
        if path is not None and not keys:
            raise ValueError("sessions kept in a file need SONGJI_CONSOLE_SESSION_KEY")
        self.seconds = minutes * 60
        self.identify = identify
        self._ciphers = [AESGCM(k) for k in (keys or [secrets.token_bytes(KEY_BYTES)])]
        self._lock = threading.Lock()
        if path is None:
            self._db = sqlite3.connect(":memory:", check_same_thread=False,
                                       isolation_level=None)
        else:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # owner-only from birth
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("""CREATE TABLE IF NOT EXISTS sessions (
            id_hash BLOB PRIMARY KEY, sealed_token BLOB NOT NULL, csrf TEXT NOT NULL,
            expires_at REAL NOT NULL, pending TEXT NOT NULL)""")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _seal(self, id_hash: bytes, token: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._ciphers[0].encrypt(nonce, token.encode(), id_hash)

    def _open(self, id_hash: bytes, sealed: bytes) -> str | None:
        nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        for cipher in self._ciphers:
            try:
                return cipher.decrypt(nonce, ciphertext, id_hash).decode()
            except InvalidTag:
                continue
        return None

    def start(self, signed_in: SignedIn) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        session = Session(signed_in, secrets.token_urlsafe(32), now + self.seconds)
        session.stored = session.pending()
        id_hash = _id_hash(session_id)
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
            self._db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                             (id_hash, self._seal(id_hash, signed_in.token), session.csrf,
                              session.expires_at, session.stored))
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session, its expiry pushed back; None (and forgotten) once expired, or
        when its token no longer opens or no longer names an organisation."""
        if not session_id:
            return None
        id_hash = _id_hash(session_id)
        now = time.time()
        with self._lock:
            row = self._db.execute(
                "SELECT sealed_token, csrf, expires_at, pending FROM sessions WHERE id_hash = ?",
                (id_hash,)).fetchone()
            if row is None:
                return None
            sealed, csrf, expires_at, pending = row
            token = self._open(id_hash, sealed) if now < expires_at else None
            signed_in = self.identify(token) if token is not None else None
            if signed_in is None:
                self._db.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))
                return None
            expires_at = now + self.seconds
            self._db.execute("UPDATE sessions SET expires_at = ? WHERE id_hash = ?",
                             (expires_at, id_hash))
        kept = json.loads(pending)
        session = Session(signed_in, csrf, expires_at,
                          flash=[(kind, text) for kind, text in kept["flash"]],
                          shown=kept["shown"], stored=pending)
        return session

    def save(self, session_id: str | None, session: Session) -> None:
        """Keeps the messages and answers still to show, when a request changed them. A
        session ended meanwhile (signed out) stays ended: this only updates."""
        if not session_id:
            return
        pending = session.pending()
        if pending == session.stored:
            return
        with self._lock:
            self._db.execute("UPDATE sessions SET pending = ? WHERE id_hash = ?",
                             (pending, _id_hash(session_id)))
        session.stored = pending

    def end(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._db.execute("DELETE FROM sessions WHERE id_hash = ?",
                                 (_id_hash(session_id),))
