"""The public notice's working days by the State Council's arrangement (chinesecalendar), held
to the hand-written rule it replaced on random dates, and the settings table for the years the
package does not know yet."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
from hypothesis import given
from hypothesis import strategies as st

from services.funding.domain.notice_calendar import (
    WorkingCalendar,
    notice_period,
    state_council_working_day,
)
from services.funding.settings import FundingSettings
from tests.support import signing_settings

OFFICIAL = WorkingCalendar.of(official=state_council_working_day)
# The hand-written rule (weekdays, minus holidays, plus make-up days) fed with the package's
# published lists: what the service counted when an operator configured the same tables.
TABLE = WorkingCalendar.of(chinese_calendar.holidays, chinese_calendar.workdays)
FIRST_KNOWN, LAST_KNOWN = min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year
# a year chinesecalendar 1.11.0 has no table for, nor will any release soon
UNKNOWN_YEAR = 2099


@given(st.dates(min_value=date(FIRST_KNOWN, 1, 1), max_value=date(LAST_KNOWN, 12, 1)),
       st.integers(min_value=1, max_value=10))
def test_the_official_calendar_agrees_with_the_hand_written_rule(published: date,
                                                                 days: int) -> None:
    assert OFFICIAL.is_working_day(published) == TABLE.is_working_day(published)
    assert notice_period(published, OFFICIAL, days) == notice_period(published, TABLE, days)


def test_national_day_2025_as_the_state_council_published_it() -> None:
    # 1-8 October off; Sunday 28 September and Saturday 11 October worked
    assert notice_period(date(2025, 9, 26), OFFICIAL) == (date(2025, 9, 28), date(2025, 10, 10))
    assert notice_period(date(2025, 10, 9), OFFICIAL)[1] == date(2025, 10, 15)
    assert not OFFICIAL.is_working_day(date(2025, 10, 6))  # a Monday, but a holiday


def test_a_year_the_package_does_not_know_falls_back_to_the_settings_table() -> None:
    new_year = date(UNKNOWN_YEAR, 1, 1)
    assert state_council_working_day(new_year) is None
    calendar = WorkingCalendar.of(holidays=[new_year + timedelta(days=d) for d in range(3)],
                                  makeup_working_days=[date(UNKNOWN_YEAR, 1, 4)],
                                  official=state_council_working_day)
    assert new_year.weekday() == 3  # a Thursday, off by the table
    # published Wednesday 31 Dec: Thu-Sat off by the table, Sun 4 worked, Mon 5 .. Thu 8
    assert notice_period(date(UNKNOWN_YEAR - 1, 12, 31), calendar) == (
        date(UNKNOWN_YEAR, 1, 4), date(UNKNOWN_YEAR, 1, 8))
    # without the table only weekends are skipped
    bare = WorkingCalendar.of(official=state_council_working_day)
    assert notice_period(date(UNKNOWN_YEAR - 1, 12, 31), bare) == (
        new_year, date(UNKNOWN_YEAR, 1, 7))


def test_the_settings_table_does_not_override_a_year_the_package_knows() -> None:
    # 6 October 2025 is a holiday: a table saying otherwise is not consulted
    calendar = WorkingCalendar.of(makeup_working_days=[date(2025, 10, 6)],
                                  official=state_council_working_day)
    assert not calendar.is_working_day(date(2025, 10, 6))


def test_funding_settings_use_the_official_calendar_unless_told_not_to() -> None:
    common = dict(database_url="postgresql://nowhere/none", kafka_bootstrap_servers="x:1",
                  **signing_settings("funding"))
    holiday = date(2025, 10, 6)
    assert not FundingSettings(**common).calendar().is_working_day(holiday)
    assert FundingSettings(**common, official_holidays=False).calendar().is_working_day(holiday)
