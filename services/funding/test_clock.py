"""Funding's 'today', and the test clock: in a rehearsal or a demonstration, the HR bureau
moves it forward, so that a public notice of five working days can end in minutes.

Off unless ``SONGJI_TEST_CLOCK`` is set. It only moves forward, and only the dates funding
decides with (approval, notice, objections, instruction, confirmation) follow it; the ledger
does not depend on it, since it is derived from the recorded events alone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from services.funding.settings import FundingSettings
from shared.runtime.test_clock import days_ahead, test_clock_router


def today(settings: FundingSettings) -> date:
    """The local date funding decides with: the real one, moved ahead by the test clock."""
    local = timezone(timedelta(hours=settings.local_utc_offset_hours))
    return datetime.now(UTC).astimezone(local).date() + timedelta(days=days_ahead(settings))


router = test_clock_router("funding", today)
