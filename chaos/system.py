"""The servers and the five services of one run (clean or under faults).

Both runs share one PostgreSQL server and one embedded broker, each with its own databases
and topic prefix; they run one after the other. The broker is always the embedded one: the
chaos run restarts it empty, which only a broker we own can do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.eventsourcing.topics import SERVICES
from shared.infra.dev_organisations import dev_tokens
from shared.infra.kafka import EmbeddedKafka
from songji.launcher import Launcher

# The same settings for both runs, so that only the faults differ. A notice whose sender was
# killed mid-send is taken over after CLAIM_TIMEOUT seconds instead of five minutes.
SERVICE_ENV = {
    "SONGJI_TEST_CLOCK": "true",
    "SONGJI_CLAIM_TIMEOUT_SECONDS": "8",
    "SONGJI_RELAY_PROBE_INTERVAL": "2",
}


@dataclass
class RunSystem:
    label: str
    launcher: Launcher
    state_dir: Path

    @property
    def urls(self) -> dict[str, str]:
        return {n: p.url for n, p in self.launcher.processes.items()}

    @property
    def dsns(self) -> dict[str, str]:
        return {n: p.dsn for n, p in self.launcher.processes.items()}

    @property
    def tokens(self) -> dict[str, str]:
        return dev_tokens(self.state_dir)

    @property
    def topic_prefix(self) -> str:
        return self.launcher.topic_prefix

    @property
    def messages_file(self) -> Path:
        """Where notifications' local channel writes each message it sends."""
        return self.state_dir / "messages.jsonl"


async def start_run(label: str, *, postgres_url: str, broker: EmbeddedKafka, root: Path,
                    extra_env: Mapping[str, str] | None = None, replicas: int = 1
                    ) -> RunSystem:
    tag = f"{label}{os.getpid()}"
    state_dir = root / label
    launcher = Launcher(postgres_url=postgres_url, kafka_bootstrap=broker.bootstrap_servers,
                        state_dir=state_dir, database_prefix=f"songji_{tag}",
                        topic_prefix=f"songji-{tag}", extra_env={**SERVICE_ENV,
                                                                  **(extra_env or {})},
                        replicas=replicas)
    await launcher.start(SERVICES)
    return RunSystem(label, launcher, state_dir)
