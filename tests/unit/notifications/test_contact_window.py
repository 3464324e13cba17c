"""A worker's contact window, computed purely from (now, window)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from services.notifications.domain.contact_window import ContactWindow, send_time
from services.notifications.domain.model import SHANGHAI

DAY = ContactWindow(time(9), time(18))  # e.g. a night-shift worker
OVERNIGHT = ContactWindow(time(20), time(8))


def sh(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 7, day, hour, minute, tzinfo=SHANGHAI)


def test_inside_the_window_sends_now():
    assert send_time(sh(24, 10), DAY, urgent=False) == sh(24, 10)


def test_before_the_window_waits_for_its_opening_that_day():
    assert send_time(sh(24, 3, 15), DAY, urgent=False) == sh(24, 9)


def test_after_the_window_waits_for_the_next_day():
    assert send_time(sh(24, 18), DAY, urgent=False) == sh(25, 9)  # end is exclusive
    assert send_time(sh(24, 23), DAY, urgent=False) == sh(25, 9)


def test_urgent_and_windowless_messages_go_now():
    assert send_time(sh(24, 3), DAY, urgent=True) == sh(24, 3)
    assert send_time(sh(24, 3), None, urgent=False) == sh(24, 3)


def test_a_window_across_midnight():
    assert send_time(sh(24, 23), OVERNIGHT, urgent=False) == sh(24, 23)
    assert send_time(sh(24, 7, 59), OVERNIGHT, urgent=False) == sh(24, 7, 59)
    assert send_time(sh(24, 12), OVERNIGHT, urgent=False) == sh(24, 20)


def test_now_in_utc_is_judged_in_shanghai_time():
    # 19:30 UTC on the 23rd is 03:30 on the 24th in Shanghai: outside 09-18
    now = datetime(2025, 7, 23, 19, 30, tzinfo=UTC)
    assert send_time(now, DAY, urgent=False) == sh(24, 9)


def test_parse_both_forms_and_reject_nonsense():
    assert ContactWindow.parse("09:00-18:00") == DAY
    assert ContactWindow.parse({"start": "20:00", "end": "08:00"}) == OVERNIGHT
    assert ContactWindow.parse(None) is None
    with pytest.raises(ValueError):
        ContactWindow.parse("nine to six")
    with pytest.raises(ValueError):
        ContactWindow(time(9), time(9))
    with pytest.raises(ValueError):
        send_time(datetime(2025, 7, 24, 3), DAY, urgent=False)
