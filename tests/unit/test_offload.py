"""``off_loop``: large work in a worker thread, small work inline, the result either way."""

from __future__ import annotations

import asyncio
import threading

from shared.runtime.offload import off_loop


def test_small_work_runs_on_the_loop_and_large_work_in_a_thread() -> None:
    async def where(size: int) -> tuple[int, int]:
        return await off_loop(lambda: (threading.get_ident(), size * 2), size=size,
                              inline_below=100)

    async def main() -> None:
        loop_thread = threading.get_ident()
        small_thread, small = await where(99)
        large_thread, large = await where(100)
        assert (small_thread, small) == (loop_thread, 198)
        assert large_thread != loop_thread and large == 200

    asyncio.run(main())


def test_the_loop_answers_while_large_work_runs() -> None:
    """A coroutine waiting on the loop gets its turn before the thread's work ends."""
    release = threading.Event()

    def blocking() -> str:
        assert release.wait(5), "the loop never ran while the work was in its thread"
        return "done"

    async def main() -> None:
        work = asyncio.create_task(off_loop(blocking, size=1, inline_below=0))
        await asyncio.sleep(0.01)  # the loop runs: the work is not holding it
        release.set()
        assert await work == "done"

    asyncio.run(main())
