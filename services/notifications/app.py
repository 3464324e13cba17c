"""Notifications' composition root: rules, outbox, sender, webhooks, xAPI statements."""

from __future__ import annotations

from pathlib import Path

from services.notifications.api import delivery_router, router, webhook_router
from services.notifications.backfill import run_backfills
from services.notifications.consumers import WORKERS
from services.notifications.sender import send_notifications
from services.notifications.settings import NotificationSettings
from services.notifications.webhooks import deliver_webhooks
from services.notifications.xapi.consumer import XAPI
from services.notifications.xapi.lrs import send_statements
from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="notifications",
    title="Songji notifications",
    description="Tells workers and departments what they need to know, from the events, and "
                "posts events to integrators' webhooks.",
    routers=[router, delivery_router, webhook_router],
    migrations=Path(__file__).parent / "migrations",
    subscriptions=[WORKERS, XAPI],
    settings_class=NotificationSettings,
    background=[send_notifications, deliver_webhooks, run_backfills, send_statements],
)
