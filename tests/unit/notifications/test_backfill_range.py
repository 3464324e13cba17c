"""Which events a backfill's range admits: times from ``since`` (included) to ``until``
(excluded), positions per service after ``since`` and up to ``until`` (included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from services.notifications.backfill import BackfillRange
from shared.contracts import Envelope

NOON = datetime(2025, 8, 10, 12, 0, tzinfo=UTC)


def event(*, at: datetime = NOON, position: int | None = 10) -> Envelope:
    return Envelope(id=uuid4(), source="/songji/assessment",
                    type="songji.assessment.SkillLevelCertified.v1", subject="cert-1", time=at,
                    data={}, schema_version=1, correlation_id="c", position=position)


def test_times_are_from_since_included_to_until_excluded() -> None:
    wanted = BackfillRange(since_time=NOON, until_time=NOON + timedelta(hours=1))
    assert wanted.admits("assessment", event(at=NOON))
    assert not wanted.admits("assessment", event(at=NOON - timedelta(microseconds=1)))
    assert wanted.admits("assessment", event(at=NOON + timedelta(minutes=59)))
    assert not wanted.admits("assessment", event(at=NOON + timedelta(hours=1)))


def test_positions_are_per_service_after_since_and_up_to_until() -> None:
    wanted = BackfillRange(since_positions={"assessment": 10}, until_positions={"assessment": 12})
    assert [p for p in range(8, 15) if wanted.admits("assessment", event(position=p))] == [
        11, 12]
    assert wanted.admits("training", event(position=1))  # no bound for a service not named
    assert not wanted.admits("assessment", event(position=None))


def test_time_and_positions_together_must_both_hold() -> None:
    wanted = BackfillRange(since_time=NOON, since_positions={"assessment": 10})
    assert wanted.admits("assessment", event(at=NOON, position=11))
    assert not wanted.admits("assessment", event(at=NOON, position=10))
    assert not wanted.admits("assessment", event(at=NOON - timedelta(seconds=1), position=11))
