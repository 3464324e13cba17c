"""A worker's contact window: when a non-urgent message may reach them (local Shanghai time).

A night-shift worker sleeps by day and works by night; a window of 09:00-18:00 keeps the phone
quiet at 3 a.m. A window whose start is after its end wraps midnight (20:00-08:00).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from services.notifications.domain.model import SHANGHAI

_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class ContactWindow:
    start: time  # inclusive, local
    end: time  # exclusive, local

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("an empty contact window: start equals end")

    @classmethod
    def parse(cls, value: Any) -> ContactWindow | None:
        """From ``"09:00-18:00"`` or ``{"start": "09:00", "end": "18:00"}``; None: any time."""
        if value in (None, "", {}):
            return None
        if isinstance(value, str):
            match = _HHMM.match(value)
            if not match:
                raise ValueError(f"not a contact window: {value!r}")
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            return cls(time(h1, m1), time(h2, m2))
        if isinstance(value, dict):
            return cls(time.fromisoformat(value["start"]), time.fromisoformat(value["end"]))
        raise ValueError(f"not a contact window: {value!r}")

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def send_time(now: datetime, window: ContactWindow | None, *, urgent: bool) -> datetime:
    """The earliest moment at or after ``now`` when the message may be sent.

    Urgent messages and workers without a window: now. Otherwise now if inside the window,
    else the window's next opening.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if urgent or window is None:
        return now
    local = now.astimezone(SHANGHAI)
    if window.contains(local.time()):
        return now
    opening = datetime.combine(local.date(), window.start, SHANGHAI)
    if opening <= local:
        opening += timedelta(days=1)
    return opening
