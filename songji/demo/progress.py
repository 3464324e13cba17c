"""Step lines while the demo runs: a counter that redraws in place on a terminal, and one line
per finished step anywhere else (CI logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, steps: int, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.steps, self.number = steps, 0
        self.title, self.total, self.count = "", 0, 0
        self.started = self.step_started = time.monotonic()
        self._drawn = 0.0

    def step(self, title: str, total: int = 0) -> None:
        self.number += 1
        self.title, self.total, self.count = title, total, 0
        self.step_started = time.monotonic()
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
        if not self.tty:
            return
        now = time.monotonic()
        if force or now - self._drawn > 0.1 or self.count == self.total:
            self._drawn = now
            self.out.write("\r\033[K" + self._line())
            self.out.flush()
