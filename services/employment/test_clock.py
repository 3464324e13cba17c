"""Employment's 'today' on the test clock (shared/runtime/test_clock.py): in a rehearsal the HR
bureau moves it forward, so a placement's 3-month follow-up falls due in minutes."""

from __future__ import annotations

from services.employment.settings import EmploymentSettings
from shared.runtime.test_clock import test_clock_router

router = test_clock_router("employment", EmploymentSettings.today)
