"""Plain-SQL schema migrations, applied at start-up and safe to run twice.

Files are applied in name order and recorded in ``schema_migrations``; an advisory lock keeps
two processes starting together from applying the same file at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import asyncpg
import structlog

log = structlog.get_logger(__name__)

KIT_MIGRATIONS = Path(__file__).parent / "sql"
_LOCK_KEY = 0x534F4E474A49  # "SONGJI"


def migration_files(*folders: Path | None) -> list[Path]:
    files: list[Path] = []
    for folder in folders:
        if folder is not None and folder.is_dir():
            files.extend(sorted(folder.glob("*.sql")))
    return files


async def apply_migrations(conn: asyncpg.Connection, files: Iterable[Path]) -> list[str]:
    """Apply the files not yet applied; return the names applied now."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   name text PRIMARY KEY,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for file in files:
            name = _name(file)
            if name in done:
                continue
            await conn.execute(file.read_text())
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied_now.append(name)
    if applied_now:
        log.info("migrations applied", migrations=applied_now)
    return applied_now


async def migrations_done(conn: asyncpg.Connection, files: Iterable[Path]) -> bool:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return False
    done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
    return all(_name(f) in done for f in files)


def _name(file: Path) -> str:
    """A name unique across the kit's and the services' folders, stable across checkouts."""
    return f"{file.parent.parent.name}/{file.parent.name}/{file.name}"
