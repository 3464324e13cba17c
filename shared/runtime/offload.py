"""CPU-bound work kept off the event loop when it is large.

A service answers every request and consumes every event on one event loop; a pure
computation over thousands of records (a recompute job's chunk) would hold it for as long as
it runs, and every read would wait behind it. In a thread it still shares the interpreter,
but the loop gets its turn at every switch interval (5 ms by default), so reads go on. Small
work stays inline: handing it to a thread costs more than it does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def off_loop(compute: Callable[[], T], *, size: int, inline_below: int) -> T:
    """``compute()``, in a worker thread when ``size`` (its records) is ``inline_below`` or
    more, else here. ``compute`` must touch no connection and nothing another task changes
    meanwhile (the caller awaits it, so the caller's own state is safe)."""
    if size < inline_below:
        return compute()
    return await asyncio.to_thread(compute)
