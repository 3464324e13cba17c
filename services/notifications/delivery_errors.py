"""How a delivery attempt can fail: worth retrying, or not."""

from __future__ import annotations


class DeliveryError(Exception):
    """``code`` is short and safe to store: never an address, a name or the message text."""

    retry = False

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code[:200]


class TransientDeliveryError(DeliveryError):
    """The gateway, the mail server or enrolment is down or busy: try again later."""

    retry = True


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help: no address, an unknown worker, a refused message."""


class DependencyUnavailable(TransientDeliveryError):
    """Songji's own enrolment service (the contact lookup) is down or busy, e.g. restarting.
    The notice waits and is tried again; this does not use up its delivery attempts, so an
    outage of enrolment longer than the retries cannot fail notices for good."""
