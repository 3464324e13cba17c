"""Counts as horizontal bars (CSS widths, no script), with small groups suppressed.

A group counting fewer than ``SMALLEST_GROUP`` workers is shown by its name only, as the
employment service answers its own (its SONGJI_SMALLEST_GROUP default): its count would
describe one or two people. Enrolment and assessment answer their raw counts, so the console
suppresses theirs after summing them into the group shown."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SMALLEST_GROUP = 5
UNKNOWN = "—"


@dataclass(frozen=True)
class Bar:
    label: str
    count: int | None  # None: suppressed
    percent: float  # of the largest shown count, for the bar's width

    @property
    def suppressed(self) -> bool:
        return self.count is None


def bars(counts: Mapping[str, int], smallest: int = SMALLEST_GROUP) -> list[Bar]:
    """One bar a group, in label order; a suppressed one has no count and no width."""
    shown = [c for c in counts.values() if c >= smallest]
    largest = max(shown, default=0)
    return [Bar(label, count if count >= smallest else None,
                round(100 * count / largest, 1) if count >= smallest and largest else 0.0)
            for label, count in sorted(counts.items())]


def summed(rows: Iterable[Mapping[str, Any]], group: Callable[[Mapping[str, Any]], str],
           count: str) -> dict[str, int]:
    """The rows' ``count`` field added up by ``group`` (the group of a row)."""
    totals: dict[str, int] = {}
    for row in rows:
        key = group(row) or UNKNOWN
        totals[key] = totals.get(key, 0) + int(row.get(count) or 0)
    return totals


def destination(row: Mapping[str, Any]) -> str:
    place = " ".join(str(row[k]) for k in ("province", "city") if row.get(k))
    return place or UNKNOWN


def field(name: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda row: UNKNOWN if row.get(name) is None else str(row[name])
