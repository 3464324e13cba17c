"""Chaos's forged messages are refused by every reader for the reason it expects, and its
malformed ones for what is malformed about them, not for their signature."""

from __future__ import annotations

import pytest

from chaos.malformed import FORGED_REASONS, messages
from shared.contracts import InvalidMessage, UnknownEventType
from shared.contracts.envelope import Envelope, text_headers
from shared.eventsourcing.authenticity import Authenticity, Forged
from shared.eventsourcing.topics import SERVICES, events_topic
from tests.support import TEST_PRIVATE_KEYS, public_keys_in_tests


def test_forged_kinds_fail_their_check_and_a_broken_contract_is_signed() -> None:
    readers = Authenticity(public_keys_in_tests(),
                           {events_topic(s, "p"): s for s in SERVICES})
    seen = set()
    for m in messages("p", TEST_PRIVATE_KEYS):
        headers, value = m.record.headers, m.record.value
        if m.kind in FORGED_REASONS:
            with pytest.raises(Forged, match=FORGED_REASONS[m.kind].replace(".", r"\.")):
                readers.check(text_headers(headers), value, m.record.topic)
            seen.add(m.kind)
        elif m.kind == "data_breaks_contract":
            readers.check(text_headers(headers), value, m.record.topic)
            with pytest.raises(InvalidMessage, match="breaks its contract"):
                Envelope.from_kafka(text_headers(headers), value).event()
        elif m.kind == "unknown_event_type":
            with pytest.raises(UnknownEventType):
                readers.check(text_headers(headers), value, m.record.topic)
    assert seen == set(FORGED_REASONS)
