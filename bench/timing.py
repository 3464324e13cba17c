"""Measuring rates: repeat, take the median, because these machines are shared and noisy."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    name: str
    per_second: float
    runs: list[float]


async def measure_rate(name: str, run: Callable[[], Awaitable[int]], *, repeats: int = 3
                       ) -> Rate:
    """``run`` does a fixed amount of work and returns how many units it did."""
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        units = await run()
        rates.append(units / (time.perf_counter() - started))
    return Rate(name, statistics.median(rates), rates)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]
