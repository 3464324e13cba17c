"""The console's runner of the auditor's replay, with stand-in commands: the verdict is kept
in the state directory (and read back by a new runner), one replay runs at a time, one that
runs too long is stopped, and the auditor's token reaches the command only by its
environment."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from console.audit_replay import VERDICT_FILE, ReplayRunner


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


async def test_the_verdict_is_kept_and_read_back_after_a_restart(tmp_path: Path) -> None:
    runner = ReplayRunner(tmp_path, {}, command=_python(
        "import os, sys; print('progress'); print('token', os.environ['SONGJI_TOKEN'] == 't-1');"
        "print('replayed 3 events -- 1 DIFFERENCES'); sys.exit(1)"))
    assert runner.start("auditor", "t-1") is True
    await runner.wait()
    run = runner.last()
    assert run is not None and run.outcome == "differences" and run.exit_code == 1
    assert "token True" in run.output and run.last_line.endswith("1 DIFFERENCES")
    assert run.differences_file is not None and run.finished_at is not None
    kept = json.loads((tmp_path / VERDICT_FILE).read_text())
    assert kept["outcome"] == "differences" and kept["requested_by"] == "auditor"
    assert "t-1" not in (tmp_path / VERDICT_FILE).read_text()
    again = ReplayRunner(tmp_path, {}).last()  # a console started afresh
    assert again is not None and again.outcome == "differences"


async def test_a_command_that_crashes_could_not_run(tmp_path: Path) -> None:
    runner = ReplayRunner(tmp_path / "new", {}, command=_python("raise OSError('no disk')"))
    runner.start("auditor", "t")
    await runner.wait()
    run = runner.last()
    assert run is not None and run.exit_code == 1 and run.outcome == "could_not_run"
    assert "no disk" in run.output and run.differences_file is None


async def test_one_replay_at_a_time_and_a_long_one_is_stopped(tmp_path: Path) -> None:
    runner = ReplayRunner(tmp_path, {}, timeout=0.5,
                          command=_python("import time; print('reading', flush=True); "
                                          "time.sleep(30)"))
    assert runner.start("auditor", "t") is True
    assert runner.start("auditor", "t") is False and runner.running
    await runner.wait()
    run = runner.last()
    assert run is not None and run.outcome == "timed_out" and not runner.running
    assert run.elapsed_seconds() < 15


async def test_a_replay_under_way_is_interrupted_when_the_console_stops(tmp_path: Path) -> None:
    runner = ReplayRunner(tmp_path, {}, command=_python("import time; time.sleep(30)"))
    runner.start("auditor", "t")
    await asyncio.sleep(0.2)
    await runner.close()
    kept = json.loads((tmp_path / VERDICT_FILE).read_text())
    assert kept["outcome"] == "interrupted"
