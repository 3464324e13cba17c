"""Keys that seal data at rest, and their rotation.

A key setting (``SONGJI_PERSONAL_DATA_KEY``, ``SONGJI_WEBHOOK_SECRET_KEY``) holds one Fernet
key or several, comma-separated, newest first. Data is sealed under the first and opened with
whichever key sealed it, so a new key goes in front without losing what the old ones sealed.
``songji keys rotate <service>`` then seals everything stored again under the first key
(``reseal``); after that the old keys can be removed from the setting.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

BATCH = 500  # rows re-sealed per transaction


class KeyRing:
    """The keys of one setting: seal under the newest, open with any."""

    def __init__(self, keys: str) -> None:
        parts = [part.strip() for part in keys.split(",")]
        if not any(parts):
            raise ValueError("no key given")
        fernets = []
        for number, part in enumerate(parts, start=1):
            try:
                fernets.append(Fernet(part.encode()))
            except (ValueError, binascii.Error):  # the key itself is never named
                raise ValueError(f"key {number} of {len(parts)} is not a Fernet key "
                                 "(32 bytes, URL-safe base64)") from None
        self.newest = fernets[0]
        self._all = MultiFernet(fernets)
        self.size = len(fernets)

    def seal(self, data: bytes) -> bytes:
        return self._all.encrypt(data)

    def open(self, token: bytes) -> bytes:
        """Raises ``InvalidToken`` when no key of the ring sealed it (or it was altered)."""
        return self._all.decrypt(token)

    def is_current(self, token: bytes) -> bool:
        try:
            self.newest.decrypt(token)
        except InvalidToken:
            return False
        return True

    def reseal(self, token: bytes) -> bytes:
        return self._all.rotate(token)


def check_keys(value: str) -> str:
    """For a settings validator: the setting must make a ring (raises ValueError)."""
    KeyRing(value)
    return value


MIN_SECRET_BYTES = 32
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})+$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")


def check_random_secret(value: str) -> str:
    """For a settings validator: a secret key must be at least 32 random bytes, written in hex
    (``openssl rand -hex 32``) or base64, standard or URL-safe (``songji keys new``,
    ``openssl rand -base64 32``). Raises ValueError, never naming the value. Placeholders
    (``CHANGE-ME``), short or repeating values are refused: such a key can be guessed, and
    with it whatever it guards (e.g. the national-ID index, number by number). The value is
    used as it is written; only its strength is checked here."""
    text = value.strip()
    if not text:
        raise ValueError("no key given: generate one with `songji keys new`")
    raw = _decoded(text)
    if raw is None:
        raise ValueError("the key is neither hex nor base64 (a placeholder?): generate one "
                         "with `songji keys new`")
    if len(raw) < MIN_SECRET_BYTES:
        raise ValueError(f"the key holds {len(raw)} bytes, fewer than {MIN_SECRET_BYTES}: "
                         "generate one with `songji keys new`")
    # 32 random bytes have about 30 distinct values; 16 or fewer is a pattern, not chance
    if len(set(raw)) <= 16:
        raise ValueError("the key repeats itself: it is not random; generate one with "
                         "`songji keys new`")
    return value


def _decoded(text: str) -> bytes | None:
    if _HEX.match(text):
        return bytes.fromhex(text)
    if not _BASE64.match(text):
        return None
    standard = text.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (ValueError, binascii.Error):
        return None


@dataclass(frozen=True)
class SealedColumn:
    """A column of sealed values; ``key`` is its table's primary key (an expression of its
    columns when there are several), read as text. The names go into SQL as they are: they
    are constants of the services' modules, never input."""

    table: str
    key: str
    column: str
    where: str = "true"  # which rows hold a value sealed under this ring

    @property
    def label(self) -> str:
        return f"{self.table}.{self.column}"


@dataclass
class Resealed:
    column: str
    rows: int = 0  # when it started
    seen: int = 0
    resealed: int = 0
    current: int = 0  # already under the newest key: left as they were
    unreadable: list[str] | None = None  # keys of rows no key of the ring opens

    @property
    def ok(self) -> bool:
        return not self.unreadable


Progress = Callable[[Resealed], None]


async def reseal(conn: asyncpg.Connection, ring: KeyRing, column: SealedColumn,
                 progress: Progress = lambda _: None) -> Resealed:
    """Seal every value of ``column`` again under the ring's newest key, a batch per
    transaction, reporting after each. A value changed meanwhile by the service is left as the
    service wrote it (it sealed it under the newest key already). Values no key opens are
    listed, not touched."""
    result = Resealed(column.label, unreadable=[])
    result.rows = await conn.fetchval(
        f"SELECT count(*) FROM {column.table} WHERE {column.where}")
    after = ""
    while True:
        rows = await conn.fetch(
            f"SELECT {column.key}::text AS id, {column.column} AS sealed FROM {column.table} "
            f"WHERE {column.where} AND {column.key}::text > $1 "
            f"ORDER BY {column.key}::text LIMIT {BATCH}", after)
        if not rows:
            break
        after = rows[-1]["id"]
        result.seen += len(rows)
        ids, old, new = [], [], []
        for row in rows:
            token = bytes(row["sealed"])
            if ring.is_current(token):
                result.current += 1
                continue
            try:
                resealed = ring.reseal(token)
            except InvalidToken:
                result.unreadable.append(row["id"])  # type: ignore[union-attr]
                continue
            ids.append(row["id"])
            old.append(token)
            new.append(resealed)
        if ids:
            result.resealed += await replace_unchanged(conn, column, ids, old, new)
        progress(result)
    return result


async def replace_unchanged(conn: asyncpg.Connection, column: SealedColumn, ids: list[str],
                            old: list[bytes], new: list[bytes]) -> int:
    """Write ``new[i]`` for row ``ids[i]`` only where the row still holds ``old[i]`` (a
    service that rewrote it meanwhile sealed it under the newest key already: its value
    stands), in one statement; how many rows were written."""
    status = await conn.execute(
        f"UPDATE {column.table} SET {column.column} = n_new "
        f"FROM unnest($1::text[], $2::bytea[], $3::bytea[]) AS n(n_id, n_old, n_new) "
        f"WHERE {column.key}::text = n_id AND {column.column} = n_old", ids, old, new)
    return int(status.split()[-1])


async def reseal_all(dsn: str, ring: KeyRing, columns: Sequence[SealedColumn],
                     progress: Progress = lambda _: None) -> list[Resealed]:
    conn = await asyncpg.connect(dsn)
    try:
        return [await reseal(conn, ring, column, progress) for column in columns]
    finally:
        await conn.close()
