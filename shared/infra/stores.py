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


BUS_ENV = ("SONGJI_KAFKA_BOOTSTRAP_SERVERS", "SONGJI_TOPIC_PREFIX")


def write_stores_file(state_dir: Path, dsns: Mapping[str, str], *, bootstrap: str,
                      topic_prefix: str) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / STORES_FILE
    lines = [f"{_env_name(s)}={dsn}" for s, dsn in dsns.items()]
    lines += [f"{BUS_ENV[0]}={bootstrap}", f"{BUS_ENV[1]}={topic_prefix}"]
    path.write_text("".join(f"{line}\n" for line in lines))
    path.chmod(0o600)
    return path


def _saved(state_dir: Path) -> dict[str, str]:
    file = state_dir / STORES_FILE
    if not file.exists():
        return {}
    return dict(line.split("=", 1) for line in file.read_text().splitlines() if "=" in line)


def bus_location(state_dir: Path) -> tuple[str, str]:
    """The bootstrap servers and topic prefix: from the environment, else from ``songji up``."""
    saved = _saved(state_dir)
    bootstrap = (os.environ.get(BUS_ENV[0]) or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
                 or saved.get(BUS_ENV[0]))
    if not bootstrap:
        raise LookupError("no broker known: set KAFKA_BOOTSTRAP_SERVERS (or run `songji up`)")
    return bootstrap, os.environ.get(BUS_ENV[1]) or saved.get(BUS_ENV[1]) or "songji"


def store_dsns(services: Iterable[str], state_dir: Path) -> dict[str, str]:
    """The DSN of each service's store; raises LookupError naming what to set when unknown."""
    saved = _saved(state_dir)
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
