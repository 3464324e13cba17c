"""Events published by the notifications service (topic ``songji.notifications.events``).

They are the public delivery log: one stream per notification, ending in exactly one of
``NotificationDelivered`` or ``NotificationFailed``. Recipients are ids only (a pseudonymous
worker id, or a department key such as ``hr_bureau`` or ``liaison_station:新疆/阜康市``);
the address and the text sent never leave the sender's memory.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from shared.contracts.base import Event, contract
from shared.contracts.bounds import Id, ShortText

RecipientKind = Literal["worker", "department"]
ChannelName = Literal["local", "sms", "email"]


@contract("notifications")
class NotificationDelivered(Event):
    """A notification reached its recipient through a channel."""

    notification_id: UUID
    kind: ShortText = Field(description="What the notification says, e.g. certificate_issued")
    recipient_kind: RecipientKind
    recipient_id: Id = Field(description="Pseudonymous worker id or department key")
    channel: ChannelName
    attempts: int = Field(ge=1, description="Attempts it took, this one included")
    source_event_id: UUID = Field(description="The consumed event that called for it")
    source_event_type: ShortText
    delivered_at: AwareDatetime


@contract("notifications")
class NotificationFailed(Event):
    """A notification could not be delivered, with the reason."""

    notification_id: UUID
    kind: ShortText
    recipient_kind: RecipientKind
    recipient_id: Id
    channel: ChannelName | None = Field(
        None, description="None when it failed before a channel was chosen")
    attempts: int = Field(ge=0)
    reason: str = Field(max_length=200, description="A code such as gateway_rejected or "
                                                    "expired; never the address or the text")
    source_event_id: UUID
    source_event_type: ShortText
    failed_at: AwareDatetime
