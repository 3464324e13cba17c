"""Start the six services as separate processes against given servers, and stop them.

Used by ``songji up`` and by the end-to-end tests, so the tests run the system the way an
operator does.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import structlog

from services.enrolment.vault import new_key
from shared.eventsourcing.topics import SERVICES
from shared.infra.dev_organisations import dev_tokens, organisations_env
from shared.infra.ports import free_port_block
from shared.infra.postgres import create_database
from shared.infra.signing_keys import service_signing_env
from shared.infra.stores import write_stores_file

log = structlog.get_logger(__name__)


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_file: Path
    dsn: str
    copy: int = 1  # which copy of the service (``--replicas``): 1 is the first

    @property
    def label(self) -> str:
        return self.name if self.copy == 1 else f"{self.name}#{self.copy}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


SECRET_SETTINGS = ("SONGJI_PERSONAL_DATA_KEY", "SONGJI_LOOKUP_KEY", "SONGJI_WEBHOOK_SECRET_KEY")


def saved_secrets(folder: Path) -> dict[str, str]:
    """The keys kept in ``folder`` (``secrets.env``), as they are; none if there are none."""
    file = folder / "secrets.env"
    if not file.exists():
        return {}
    pairs = (line.split("=", 1) for line in file.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs}


def secrets_env(folder: Path) -> dict[str, str]:
    """The services' keys (enrolment's personal data and lookup keys, notifications' webhook
    secret key): each from the environment when set there (a key being rotated in, say),
    else from ``folder``, where missing ones are generated once and kept."""
    saved = saved_secrets(folder)
    missing = [k for k in SECRET_SETTINGS if not os.environ.get(k) and not saved.get(k)]
    if missing:  # first run, or a key added since
        saved = {**saved, **{k: new_key() for k in missing}}
        folder.mkdir(parents=True, exist_ok=True)
        file = folder / "secrets.env"
        file.write_text("".join(f"{k}={v}\n" for k, v in saved.items()))
        file.chmod(0o600)
    return {k: os.environ.get(k) or saved[k] for k in SECRET_SETTINGS}


class Launcher:
    def __init__(self, *, postgres_url: str, kafka_bootstrap: str, state_dir: Path,
                 topic_prefix: str = "songji", base_port: int | None = None,
                 database_prefix: str = "songji", extra_env: Mapping[str, str] | None = None,
                 replicas: int = 1) -> None:
        """``replicas``: how many processes of each service, all on its one database (one
        of them runs its relay, see docs/replicas.md); ``processes`` holds the first of each,
        ``copies`` the others."""
        if replicas < 1:
            raise ValueError("replicas must be at least 1")
        self.postgres_url = postgres_url
        self.kafka_bootstrap = kafka_bootstrap
        self.state_dir = state_dir
        self.topic_prefix = topic_prefix
        self.base_port = base_port
        self.database_prefix = database_prefix
        self.extra_env = dict(extra_env or {})
        self.replicas = replicas
        self.processes: dict[str, ServiceProcess] = {}
        self.copies: dict[str, list[ServiceProcess]] = {}

    async def start(self, services: Iterable[str] = SERVICES, *,
                    ready_seconds: float = 90.0) -> dict[str, ServiceProcess]:
        """Start ``services`` and wait until each is ready. If that fails or is interrupted
        (a signal turned into KeyboardInterrupt, say), the ones already started are killed:
        they run in sessions of their own, so nothing else would stop them."""
        try:
            # Without a base port, a block of free ports below the kernel's ephemeral range,
            # which no outgoing connection is given: a port found free one at a time
            # (free_port) could be taken by one, or handed out twice, before the service binds
            # it, and its requests answered by another server.
            services = list(services)
            base = self.base_port or free_port_block(len(services) * self.replicas)
            for index, name in enumerate(services):
                dsn = await create_database(self.postgres_url, f"{self.database_prefix}_{name}")
                port = base + index
                self.processes[name] = self._spawn(name, dsn, port)
                # The other copies after the first of every service: base + n * k + index.
                self.copies[name] = [
                    self._spawn(name, dsn, base + len(services) * (copy - 1) + index, copy)
                    for copy in range(2, self.replicas + 1)]
            write_stores_file(self.state_dir, {n: p.dsn for n, p in self.processes.items()},
                              bootstrap=self.kafka_bootstrap, topic_prefix=self.topic_prefix)
            await self.wait_ready(ready_seconds)
        except BaseException:
            self.stop(kill=True)
            raise
        return self.processes

    def restart(self, name: str) -> ServiceProcess:
        """Start a stopped (or killed) service again, on the same port and database."""
        old = self.processes[name]
        self.stop([name])
        self.processes[name] = self._spawn(name, old.dsn, old.port)
        return self.processes[name]

    def _service_env(self, name: str) -> dict[str, str]:
        """What one service needs to know of the others."""
        if name != "notifications":
            return {}
        env = {"SONGJI_LOCAL_CHANNEL_PATH": str(self.state_dir / "messages.jsonl")}
        if "enrolment" in self.processes:
            env["SONGJI_ENROLMENT_URL"] = self.processes["enrolment"].url
        if (self.state_dir / "tokens.env").exists() and "SONGJI_ENROLMENT_TOKEN" not in os.environ:
            tokens = dev_tokens(self.state_dir)
            if "notifications-service" in tokens:
                env["SONGJI_ENROLMENT_TOKEN"] = tokens["notifications-service"]
        return env

    def restart_copy(self, svc: ServiceProcess) -> ServiceProcess:
        """Start one copy of a service again (after it was killed), on its port."""
        if svc.process.poll() is None:
            svc.process.kill()
        _wait(svc)
        again = self._spawn(svc.name, svc.dsn, svc.port, svc.copy)
        if svc.copy == 1:
            self.processes[svc.name] = again
        else:
            self.copies[svc.name] = [again if c.copy == svc.copy else c
                                     for c in self.copies[svc.name]]
        return again

    def copies_of(self, name: str) -> list[ServiceProcess]:
        """Every copy of the service, the first first."""
        return [self.processes[name], *self.copies.get(name, [])]

    def everything(self) -> list[ServiceProcess]:
        """Every process running, the first copies first."""
        return [*self.processes.values(), *(c for cs in self.copies.values() for c in cs)]

    def _spawn(self, name: str, dsn: str, port: int, copy: int = 1) -> ServiceProcess:
        log_dir = self.state_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **secrets_env(self.state_dir),
            **organisations_env(self.state_dir),
            **self._service_env(name),
            **self.extra_env,
            # Its own key only (never another service's), whatever the environment holds.
            **service_signing_env(self.state_dir, name),
            "SONGJI_DATABASE_URL": dsn,
            "SONGJI_KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "SONGJI_TOPIC_PREFIX": self.topic_prefix,
            "SONGJI_PORT": str(port),
            "SONGJI_LOG_FORMAT": "json",
        }
        log_file = log_dir / (f"{name}.log" if copy == 1 else f"{name}-{copy}.log")
        with open(log_file, "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"], env=env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        log.info("service starting", service=name, copy=copy, port=port, log=str(log_file))
        return ServiceProcess(name, port, process, log_file, dsn, copy)

    async def wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        pending = {svc.label: svc for svc in self.everything()}
        async with httpx.AsyncClient(timeout=2) as client:
            while pending:
                for name, svc in list(pending.items()):
                    if svc.process.poll() is not None:
                        tail = svc.log_file.read_text(errors="replace")[-3000:]
                        raise RuntimeError(f"{name} exited with {svc.process.returncode}:\n{tail}")
                    try:
                        if (await client.get(f"{svc.url}/ready")).status_code == 200:
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(f"not ready after {seconds}s: {', '.join(pending)}")
                if pending:
                    await asyncio.sleep(0.2)

    def stop(self, names: Iterable[str] | None = None, *, kill: bool = False) -> None:
        """Stop the first copy of each of ``names``; with no names, every process."""
        if names is None:
            for svc in (c for cs in self.copies.values() for c in cs):
                if svc.process.poll() is None:
                    svc.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            for svc in (c for cs in self.copies.values() for c in cs):
                _wait(svc)
            self.copies = {}
        chosen = list(names) if names is not None else list(self.processes)
        for name in chosen:
            svc = self.processes.get(name)
            if svc and svc.process.poll() is None:
                svc.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        for name in chosen:
            svc = self.processes.pop(name, None)
            if svc is not None:
                _wait(svc)


def _wait(svc: ServiceProcess) -> None:
    try:
        svc.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        svc.process.kill()
        svc.process.wait()
