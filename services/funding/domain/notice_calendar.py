"""The working-day calendar of the public notice (公示).

A notice runs a number of *working days*: Monday to Friday, minus public holidays, plus the
make-up working days China schedules on weekends (调休). For the years chinesecalendar knows,
the State Council's published arrangement decides (``state_council_working_day``); for a year
it does not know yet, the two lists passed in (configuration) decide, with the same rule.

Counting rule: the day the notice is published does not count; the notice's first day is the
next working day and its last day is the N-th working day. Objections are accepted up to and
including the last day; payment may be instructed from the next day on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import chinese_calendar

NOTICE_WORKING_DAYS = 5

# Whether a day is a working day by an official arrangement; None where it has no answer.
OfficialDays = Callable[[date], bool | None]


def state_council_working_day(day: date) -> bool | None:
    """The State Council's holidays and make-up working days as chinesecalendar carries them;
    None for a year the installed release has no table for (a new year's arrangement is
    published in the autumn before it)."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return None


@dataclass(frozen=True)
class WorkingCalendar:
    holidays: frozenset[date] = field(default_factory=frozenset)
    makeup_working_days: frozenset[date] = field(default_factory=frozenset)
    official: OfficialDays | None = None

    @classmethod
    def of(cls, holidays: Iterable[date] = (), makeup_working_days: Iterable[date] = (),
           official: OfficialDays | None = None) -> WorkingCalendar:
        return cls(frozenset(holidays), frozenset(makeup_working_days), official)

    def is_working_day(self, day: date) -> bool:
        if self.official is not None and (known := self.official(day)) is not None:
            return known
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
