"""Dates a placement's follow-ups fall due on."""

from __future__ import annotations

import calendar
from datetime import date

FOLLOW_UP_MONTHS: tuple[int, ...] = (1, 3, 6)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later; the month's last day when it has no such day
    (31 January + 1 month = 28 or 29 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def follow_up_due(starts_on: date, month: int) -> date:
    """When the ``month``-month follow-up of a placement that started on ``starts_on`` is due."""
    return add_months(starts_on, month)
