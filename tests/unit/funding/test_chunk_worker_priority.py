"""A recompute job's worker process takes only CPU nothing else wants: nice 19, in the idle
scheduling class where the system has it (checked in a process of its own, so the test's
own process keeps its priority)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

LOWERED = """
import os
from services.funding.chunk_worker import _lowest_priority
_lowest_priority(0)
print(os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0) == os.SCHED_IDLE)
"""


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="no idle scheduling class here")
def test_the_worker_runs_at_nice_19_in_the_idle_class() -> None:
    before = os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)
    run = subprocess.run([sys.executable, "-c", LOWERED], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["19", "True"]
    assert (os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)) == before
