"""The event loop's watch (shared/runtime/metrics.py): a callback that holds the loop shows
as the lateness of the watch's wake-up, and a free loop as none."""

from __future__ import annotations

import asyncio
import time

from shared.runtime.metrics import (
    LOOP_WATCH_SECONDS,
    ServiceMetrics,
    watch_event_loop,
)


def _count(metrics: ServiceMetrics, at_most_seconds: float | None = None) -> float:
    """Observations in all, or those at most ``at_most_seconds`` (a bucket's bound)."""
    suffix, le = ("_bucket", str(at_most_seconds)) if at_most_seconds else ("_count", None)
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == f"songji_event_loop_lag_seconds{suffix}" and (
                    le is None or sample.labels.get("le") == le):
                return sample.value
    raise AssertionError("no such sample")


async def test_a_held_loop_is_seen_late_and_a_free_one_on_time() -> None:
    metrics = ServiceMetrics()
    watch = asyncio.create_task(watch_event_loop(metrics))
    try:
        await asyncio.sleep(LOOP_WATCH_SECONDS * 6)  # free: every wake-up about on time
        free = _count(metrics)
        assert free >= 3
        assert _count(metrics, 1.0) == free  # none a second late, however busy the machine
        asyncio.get_running_loop().call_soon(time.sleep, 0.3)  # holds the loop for 300 ms
        await asyncio.sleep(LOOP_WATCH_SECONDS * 4)
    finally:
        watch.cancel()
    assert _count(metrics) > free
    # the wake-up that fell in the hold was at least 250 ms late: above the 0.25 s bucket
    assert _count(metrics, 0.25) < _count(metrics)

