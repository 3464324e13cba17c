"""CPU-bound work kept off the event loop when it is large.

A service answers every request and consumes every event on one event loop; a pure
computation over thousands of records (a recompute job's chunk) would hold it for as long as
it runs, and every read would wait behind it. In a thread it still shares the interpreter:
the loop gets it back only at the interpreter's switch interval (5 ms by default), and a read
needs the loop many times over (accept, parse, query, answer), so it would still wait tens of
milliseconds. So, while such work runs, the switch interval is made short (the loop gets its
turn within a fraction of a millisecond), and the worker thread runs at the lowest CPU
priority (Linux: a thread's own nice value), so the loop and the database go first. The
work itself slows a little. Small work stays inline: a thread costs more than it does.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

# While work runs in a thread: how often the interpreter lets the loop's thread in.
SWITCH_INTERVAL_SECONDS = 0.0002
_running = 0  # calls in a thread now (this module's state: one event loop per process)
_saved_interval = sys.getswitchinterval()


def _lowest_priority() -> None:
    """The worker thread yields the CPU to the loop, the database and everything else."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux: the switch interval alone
        pass


_workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="off-loop",
                              initializer=_lowest_priority)


async def off_loop(compute: Callable[[], T], *, size: int, inline_below: int) -> T:
    """``compute()``, in a worker thread when ``size`` (its records) is ``inline_below`` or
    more, else here. ``compute`` must touch no connection and nothing another task changes
    meanwhile (the caller awaits it, so the caller's own state is safe)."""
    global _running, _saved_interval
    if size < inline_below:
        return compute()
    if _running == 0:
        _saved_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    _running += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_workers, compute)
    finally:
        _running -= 1
        if _running == 0:
            sys.setswitchinterval(_saved_interval)
