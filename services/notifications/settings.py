"""Notifications' settings (prefix ``SONGJI_``): channels, addresses, enrolment's API, retries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from services.notifications.xapi.settings import XapiSettings
from shared.runtime.keys import check_keys
from shared.runtime.service import ServiceContext, context


class DepartmentAddress(BaseModel):
    """Where a department reads its notices. Departments are offices, not people."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    email: str | None = None
    mobile: str | None = None
    language: str = "zh-CN"


class NotificationSettings(XapiSettings):
    worker_channel: Literal["local", "sms"] = Field(
        "local", description="How workers are reached (SONGJI_WORKER_CHANNEL)")
    department_channel: Literal["local", "email", "sms"] = Field(
        "local", description="How departments are reached (SONGJI_DEPARTMENT_CHANNEL)")
    departments: dict[str, DepartmentAddress] = Field(
        default_factory=dict,
        description="JSON (SONGJI_DEPARTMENTS): key -> {email?, mobile?, language?}. Keys: "
                    "hr_bureau, trade_union, womens_federation, and "
                    "liaison_station:<province>/<city> per station, or liaison_station "
                    "for all stations without their own")
    local_channel_path: Path | None = Field(
        Path(".songji/messages.jsonl"),
        description="File the local channel appends messages to; empty: standard output")

    sms_gateway_url: str | None = None
    sms_gateway_token: SecretStr | None = None
    smtp_host: str = "localhost"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_sender: str = "songji@localhost"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(10.0, gt=0)

    enrolment_url: str = Field("http://127.0.0.1:8001",
                               description="Base URL of enrolment's API (worker contacts)")
    enrolment_token: SecretStr | None = Field(
        None, description="Bearer token notifications presents to enrolment")
    http_timeout_seconds: float = Field(10.0, gt=0)

    delivery_attempts: int = Field(5, ge=1, le=100,
                                   description="Attempts per notification or webhook "
                                               "delivery before it is failed")
    delivery_backoff_seconds: float = Field(1.0, ge=0, description="First retry wait; doubles")
    delivery_backoff_max_seconds: float = Field(60.0, ge=0)
    sender_poll_seconds: float = Field(1.0, gt=0)
    dependency_retry_seconds: float = Field(
        10.0, gt=0, description="How long a notice waits when enrolment (the contact lookup) "
                                "is unreachable; such waits do not use up delivery attempts")
    sender_batch: int = Field(50, ge=1)
    sender_concurrency: int = Field(8, ge=1)
    claim_timeout_seconds: float = Field(
        300.0, gt=0, description="A claim older than this (its sender crashed) is taken over")

    webhook_secret_key: SecretStr | None = Field(
        None, description="Fernet key that encrypts webhook secrets at rest "
                          "(SONGJI_WEBHOOK_SECRET_KEY); webhooks cannot be registered without. "
                          "Several, comma-separated and newest first, while a new one is "
                          "rotated in (`songji keys rotate notifications`)")

    webhook_allow_local: bool = Field(
        False, description="SONGJI_WEBHOOK_ALLOW_LOCAL, for local runs and tests only: webhook "
                           "receivers may use plain http and loopback addresses. Off (the "
                           "default): https only, at public addresses. Private, link-local, "
                           "multicast and reserved addresses are refused either way")
    webhook_deadline_seconds: float = Field(
        10.0, gt=0, le=120, description="Wall-clock limit of one webhook delivery attempt: "
                                        "resolving, connecting, sending and reading the "
                                        "answer. Keep it well below claim_timeout_seconds, "
                                        "or an attempt still running is taken over")
    webhook_concurrency_per_receiver: int = Field(
        2, ge=1, description="Deliveries in flight to one webhook at a time (per replica); "
                             "all webhooks together: sender_concurrency")
    webhook_backfill_max_events: int = Field(
        10_000, ge=1, le=1_000_000, description="Deliveries one backfill request queues at most; "
                                                "a request that matches more ends 'limited' and "
                                                "says where the next one goes on")
    webhook_backfill_rate: float = Field(
        10.0, gt=0, le=1000, description="Backfilled deliveries per second, at most, per "
                                         "request (they are scheduled this far apart)")

    @field_validator("webhook_secret_key")
    @classmethod
    def _is_a_key_ring(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None  # set but empty (an env file's blank line): webhooks off, as unset
        check_keys(value.get_secret_value())
        return value


# Notifications' routes get its context with its own settings, typed.
NotificationsContext = Annotated[ServiceContext[NotificationSettings], Depends(context)]
