"""The programme's calendar: dates are days in China (Asia/Shanghai), wherever a server runs."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

PROGRAMME_ZONE = ZoneInfo("Asia/Shanghai")


def programme_today(now: datetime | None = None) -> date:
    """Today's date in China; handlers call this and pass the date into the pure domain."""
    return (now or datetime.now(PROGRAMME_ZONE)).astimezone(PROGRAMME_ZONE).date()
