"""Notifications' composition root: templates, preferences, the delivery log."""

from __future__ import annotations

from pathlib import Path

from services.notifications.api import router
from services.notifications.consumers import WORKERS
from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="notifications",
    title="Songji notifications",
    description="Tells workers and departments what they need to know, from the events.",
    routers=[router],
    migrations=Path(__file__).parent / "migrations",
    subscriptions=[WORKERS],
)
