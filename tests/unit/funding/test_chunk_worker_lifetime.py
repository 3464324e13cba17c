"""A recompute job's worker process ends with the service that started it, however the
service ended (a service killed outright never shuts its worker down)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# The "service": starts the "worker" (which watches it, as the chunk worker does), prints the
# worker's pid and exits at once, without stopping it.
SERVICE = """
import os, subprocess, sys
worker = subprocess.Popen([sys.executable, "-c",
    "import sys, time; from services.funding.chunk_worker import end_with_parent; "
    "end_with_parent(int(sys.argv[1])); time.sleep(60)", str(os.getpid())],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(worker.pid, flush=True)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # reaped by init or not yet: a zombie has ended too
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def test_the_worker_exits_once_its_service_is_gone() -> None:
    service = subprocess.run([sys.executable, "-c", SERVICE], cwd=ROOT, capture_output=True,
                             text=True, timeout=30, check=True)
    worker = int(service.stdout.strip())
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker), f"worker {worker} outlived its service"
