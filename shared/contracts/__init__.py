"""Event contracts shared by every service, and the CloudEvents envelope that carries them.

Importing this package registers every contract, so ``model_for`` knows them all.
"""

from shared.contracts import (  # noqa: F401  (registers them)
    assessment,
    employment,
    enrolment,
    funding,
    notifications,
    training,
)
from shared.contracts.base import Event, UnknownEventType, contract, model_for, registered_events
from shared.contracts.envelope import Actor, Envelope, InvalidMessage, Metadata

__all__ = [
    "Actor",
    "Envelope",
    "Event",
    "InvalidMessage",
    "Metadata",
    "UnknownEventType",
    "contract",
    "model_for",
    "registered_events",
]
