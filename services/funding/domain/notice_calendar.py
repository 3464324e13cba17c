"""The working-day calendar of the public notice (公示).

A notice runs a number of *working days*: Monday to Friday, minus public holidays, plus the
make-up working days China schedules on weekends (调休). Both lists are configuration, passed
in; nothing here knows any year's holidays.

Counting rule: the day the notice is published does not count; the notice's first day is the
next working day and its last day is the N-th working day. Objections are accepted up to and
including the last day; payment may be instructed from the next day on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

NOTICE_WORKING_DAYS = 5


@dataclass(frozen=True)
class WorkingCalendar:
    holidays: frozenset[date] = field(default_factory=frozenset)
    makeup_working_days: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def of(cls, holidays: Iterable[date] = (),
           makeup_working_days: Iterable[date] = ()) -> WorkingCalendar:
        return cls(frozenset(holidays), frozenset(makeup_working_days))

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_working_days:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def next_working_day(self, after: date) -> date:
        day = after + timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after ``start`` (``start`` itself not counted)."""
        if n < 1:
            raise ValueError("count at least one working day")
        day = start
        for _ in range(n):
            day = self.next_working_day(day)
        return day


def notice_period(published_on: date, calendar: WorkingCalendar,
                  working_days: int = NOTICE_WORKING_DAYS) -> tuple[date, date]:
    """(first day, last day) of a public notice published on ``published_on``."""
    first = calendar.next_working_day(published_on)
    return first, calendar.add_working_days(published_on, working_days)


def notice_over(last_day: date, today: date) -> bool:
    return today > last_day
