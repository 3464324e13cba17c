"""The funding replay (``songji audit replay``) run by the console for a signed-in auditor, and
its last verdict kept in the console's own state directory.

The replay reads every topic and the stores: it is the auditor's offline tool, with its own
configuration (the stores' and the broker's locations, the services' public keys, a read-only
Kafka user), never a service's route. The console runs that very command as a child process,
with the auditor's token (``SONGJI_TOKEN``, in its environment, never on its command line) and
the configuration the console was started with (``SONGJI_STATE_DIR`` and the ``SONGJI_*``
settings the command reads): a console given no such configuration gets the command's own
refusal, recorded as the verdict ("could not run", exit 2).

Bounds: one replay at a time per console (a second request while one runs is told so); each
is stopped after ``timeout`` seconds; its output is kept to its last ``MAX_OUTPUT`` bytes.
The last verdict (who, when, exit code, summary, where the differences went) is written to
``<state dir>/audit-replay.json`` when the replay ends, so it survives a restart of the
console; a replay under way does not: stopping the console stops it, and it is recorded as
interrupted. Progress is the time elapsed and the command's latest line of output.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

VERDICT_FILE = "audit-replay.json"
DIFFERENCES_FILE = "audit-replay-differences.json"
MAX_OUTPUT = 64 * 1024
Outcome = Literal["running", "matches", "differences", "could_not_run", "timed_out",
                  "interrupted"]
# ``songji audit replay``'s exit codes: 0 nothing to report, 1 differences (written to the
# differences file), 2 its configuration incomplete, 3 the token not an auditor's.
_OUTCOMES: dict[int, Outcome] = {0: "matches", 1: "differences"}


@dataclass
class ReplayRun:
    requested_by: str
    started_at: str  # ISO, timezone-aware
    outcome: Outcome = "running"
    finished_at: str | None = None
    exit_code: int | None = None
    output: str = ""  # the command's last lines: its summary, or why it could not run
    differences_file: str | None = None

    @property
    def last_line(self) -> str:
        lines = [line for line in self.output.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def elapsed_seconds(self) -> int:
        end = (datetime.fromisoformat(self.finished_at) if self.finished_at
               else datetime.now(UTC))
        return int((end - datetime.fromisoformat(self.started_at)).total_seconds())


class ReplayRunner:
    """Runs one replay at a time; ``last`` is the one under way or the last one that ended."""

    def __init__(self, state_dir: Path, environ: dict[str, str], *, timeout: float = 1800.0,
                 command: list[str] | None = None) -> None:
        """``command``: what runs the replay (tests may give another); by default
        ``songji audit replay`` as this interpreter's package."""
        self.state_dir, self.environ, self.timeout = state_dir, environ, timeout
        self.command = command or [sys.executable, "-c", "from songji.cli import main; main()",
                                   "audit", "replay", "--source", "topics", "--differences",
                                   str(state_dir / DIFFERENCES_FILE)]
        self.current: ReplayRun | None = None
        self._task: asyncio.Task[None] | None = None
        self._process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def last(self) -> ReplayRun | None:
        if self.current is not None:
            return self.current
        try:
            raw = json.loads((self.state_dir / VERDICT_FILE).read_text())
            return ReplayRun(**raw)
        except (OSError, ValueError, TypeError):
            return None

    def start(self, requested_by: str, token: str) -> bool:
        """Start a replay as ``requested_by`` with its token; False when one runs already."""
        if self.running:
            return False
        self.current = ReplayRun(requested_by, datetime.now(UTC).isoformat())
        self._task = asyncio.create_task(self._run(self.current, token),
                                         name="console-audit-replay")
        return True

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def close(self) -> None:
        """Stop a replay under way (recorded as interrupted)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        await self.wait()

    async def _run(self, run: ReplayRun, token: str) -> None:
        env = {**self.environ, "SONGJI_TOKEN": token}
        started = time.monotonic()
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)  # the differences go there
            self._process = process = await asyncio.create_subprocess_exec(
                *self.command, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            assert process.stdout is not None
            async with asyncio.timeout(self.timeout):
                while line := await process.stdout.readline():
                    run.output = (run.output + line.decode(errors="replace"))[-MAX_OUTPUT:]
                code = await process.wait()
            run.exit_code = code
            run.outcome = _OUTCOMES.get(code, "could_not_run")
            if code == 1 and "Traceback (most recent call last)" in run.output:
                run.outcome = "could_not_run"  # Python's exit code for an uncaught error
            elif code == 1:
                run.differences_file = str(self.state_dir / DIFFERENCES_FILE)
        except TimeoutError:
            run.outcome = "timed_out"
            run.output += f"\nstopped after {time.monotonic() - started:.0f} s"
        except asyncio.CancelledError:
            run.outcome = "interrupted"
            raise
        except OSError as exc:  # the command itself could not be started
            run.outcome, run.output = "could_not_run", str(exc)
        finally:
            await self._stop_process()
            run.finished_at = datetime.now(UTC).isoformat()
            self._keep(run)

    async def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            async with asyncio.timeout(10):
                await process.wait()
        except TimeoutError:
            process.kill()
            with contextlib.suppress(ProcessLookupError):
                await process.wait()

    def _keep(self, run: ReplayRun) -> None:
        """The verdict to the state directory, written whole or not at all."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        target = self.state_dir / VERDICT_FILE
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps(asdict(run), ensure_ascii=False, indent=1))
        os.replace(partial, target)


def console_state_dir(environ: dict[str, str]) -> Path:
    """``SONGJI_CONSOLE_STATE_DIR``, else ``console`` in the state directory ``songji up``
    uses (``SONGJI_STATE_DIR``, by default ``.songji``)."""
    explicit = environ.get("SONGJI_CONSOLE_STATE_DIR")
    if explicit:
        return Path(explicit)
    return Path(environ.get("SONGJI_STATE_DIR", ".songji")) / "console"
