"""Step lines while the demo runs: a counter that redraws in place on a terminal; anywhere else
(CI logs, a file) one line per finished step and, on a long step, a line with the count every
``every`` seconds, so a log shows how far a long run got."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, steps: int, out: TextIO | None = None, every: float = 30.0) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.every = every
        self.steps, self.number = steps, 0
        self.title, self.total, self.count = "", 0, 0
        self.started = self.step_started = time.monotonic()
        self._drawn = self._logged = 0.0

    def step(self, title: str, total: int = 0) -> None:
        self.number += 1
        self.title, self.total, self.count = title, total, 0
        self.step_started = self._logged = time.monotonic()
        self._draw(force=True)

    def advance(self, n: int = 1) -> None:
        self.count += n
        self._draw()

    def show(self, count: int, total: int) -> None:
        """Where a step measured elsewhere stands (a service's job: done of total)."""
        self.count, self.total = count, total
        self._draw()

    def done(self, detail: str = "") -> None:
        seconds = time.monotonic() - self.step_started
        line = self._line() + (f"  {detail}" if detail else "") + f"  ({seconds:.1f}s)"
        self.out.write(("\r\033[K" if self.tty else "") + line + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        self.out.write(("\r\033[K" if self.tty else "") + f"        {text}\n")
        self.out.flush()
        self._draw(force=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _line(self) -> str:
        counter = f" {self.count}/{self.total}" if self.total else ""
        return f"[{self.number:>2}/{self.steps}] {self.title}{counter}"

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.tty:
            if self.total and now - self._logged >= self.every:
                self._logged = now
                self.out.write(f"{self._line()}  ({now - self.step_started:.0f}s so far)\n")
                self.out.flush()
            return
        if force or now - self._drawn > 0.1 or self.count == self.total:
            self._drawn = now
            self.out.write("\r\033[K" + self._line())
            self.out.flush()
