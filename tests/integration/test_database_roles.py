"""deploy/postgres/roles.sql, run as the operator runs it (psql with the passwords as variables),
on the real PostgreSQL: each service's role runs its own migrations in its own database and
cannot connect to another service's."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from services.assessment.app import SPEC as ASSESSMENT
from services.employment.app import SPEC as EMPLOYMENT
from services.enrolment.app import SPEC as ENROLMENT
from services.funding.app import SPEC as FUNDING
from services.notifications.app import SPEC as NOTIFICATIONS
from services.training.app import SPEC as TRAINING
from shared.eventsourcing.migrations import KIT_MIGRATIONS, apply_migrations, migration_files
from shared.infra.postgres import postgres_bin_path

pytestmark = pytest.mark.integration

ROLES_SQL = Path(__file__).parents[2] / "deploy" / "postgres" / "roles.sql"
SPECS = {spec.name: spec for spec in (ENROLMENT, TRAINING, ASSESSMENT, FUNDING, NOTIFICATIONS,
                                      EMPLOYMENT)}


def _as(server_url: str, role: str, database: str) -> str:
    parts = urlsplit(server_url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}", path=f"/{database}"))


async def _drop(server_url: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        for service in SPECS:
            await conn.execute(f'DROP DATABASE IF EXISTS "{service}" WITH (FORCE)')
            await conn.execute(f'DROP ROLE IF EXISTS "songji_{service}"')
    finally:
        await conn.close()


async def test_each_service_role_owns_its_database_and_reaches_no_other(
        postgres_url: str) -> None:
    psql = postgres_bin_path() / "psql"
    passwords = [arg for service in SPECS for arg in ("-v", f"{service}_password=pw-{service}")]
    await _drop(postgres_url)  # a previous run's, on a server kept by POSTGRES_URL
    try:
        result = await asyncio.to_thread(
            subprocess.run,
            [str(psql), postgres_url, "-v", "ON_ERROR_STOP=1", *passwords,
             "-f", str(ROLES_SQL)], capture_output=True, text=True, check=False, timeout=60)
        assert result.returncode == 0, result.stderr

        admin = await asyncpg.connect(postgres_url)
        try:
            roles = {r["rolname"]: r for r in await admin.fetch(
                "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
                "rolbypassrls, rolcanlogin, rolpassword IS NOT NULL AS has_password "
                "FROM pg_authid WHERE rolname LIKE 'songji\\_%'")}
        finally:
            await admin.close()
        assert set(roles) == {f"songji_{service}" for service in SPECS}
        for role in roles.values():
            assert role["rolcanlogin"] and role["has_password"]
            assert not any(role[a] for a in ("rolsuper", "rolcreatedb", "rolcreaterole",
                                             "rolreplication", "rolbypassrls")), role["rolname"]

        for service, spec in SPECS.items():
            # Its own database: it creates its tables there (the service's own migrations).
            conn = await asyncpg.connect(_as(postgres_url, f"songji_{service}", service))
            try:
                await apply_migrations(conn, migration_files(KIT_MIGRATIONS, spec.migrations))
                assert await conn.fetchval("SELECT count(*) FROM events") == 0
            finally:
                await conn.close()
            # Any other service's: refused at the door.
            for other in SPECS:
                if other != service:
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await asyncpg.connect(_as(postgres_url, f"songji_{service}", other))
    finally:
        await _drop(postgres_url)
