"""Where each service's store is, for tools that read them all (the auditor's).

In order: ``SONGJI_<SERVICE>_DATABASE_URL``; ``POSTGRES_URL`` with the database
``songji_<service>``; the ``stores.env`` that ``songji up`` writes in its state folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from shared.infra.postgres import database_dsn

STORES_FILE = "stores.env"


def _env_name(service: str) -> str:
    return f"SONGJI_{service.upper()}_DATABASE_URL"


def write_stores_file(state_dir: Path, dsns: Mapping[str, str]) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / STORES_FILE
    path.write_text("".join(f"{_env_name(s)}={dsn}\n" for s, dsn in dsns.items()))
    path.chmod(0o600)
    return path


def store_dsns(services: Iterable[str], state_dir: Path) -> dict[str, str]:
    """The DSN of each service's store; raises LookupError naming what to set when unknown."""
    saved: dict[str, str] = {}
    file = state_dir / STORES_FILE
    if file.exists():
        saved = dict(line.split("=", 1) for line in file.read_text().splitlines() if "=" in line)
    found = {}
    for service in services:
        name = _env_name(service)
        if os.environ.get(name):
            found[service] = os.environ[name]
        elif os.environ.get("POSTGRES_URL"):
            found[service] = database_dsn(os.environ["POSTGRES_URL"], f"songji_{service}")
        elif name in saved:
            found[service] = saved[name]
        else:
            raise LookupError(f"no store known for {service}: set {name} or POSTGRES_URL "
                              "(or run `songji up`, which records them)")
    return found
