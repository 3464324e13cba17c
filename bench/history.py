"""A realistic history in the shapes funding consumes, written fast with a raw producer.

Each class: ``ClassScheduled``, one ``AttendanceRecorded`` per trainee and session, a
``ClassCompleted`` naming the trainees, then a ``SkillLevelCertified`` for most of them; one
assessment body and one ``AssessmentScheduled`` per class. They go on the training and
assessment topics as a source service's relay would put them (CloudEvents binary mode, keyed
by stream id), built with ``Envelope``; they do not go through the HTTP APIs (too slow for a
million events) and not through the stores (benchmark 1 measures those).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from aiokafka import AIOKafkaProducer

from services.funding.domain.facts import Consumed
from shared.contracts import Envelope, Event
from shared.contracts.assessment import (
    AssessmentBodyRegistered,
    AssessmentScheduled,
    SkillLevelCertified,
)
from shared.contracts.common import WorkSite
from shared.contracts.funding import FundingPolicyPublished
from shared.contracts.training import (
    AttendanceRecorded,
    ClassCompleted,
    ClassScheduled,
    SessionPlan,
    TraineeOutcome,
)
from shared.eventsourcing.authenticity import SIGNED_TOGETHER, sign_batch
from shared.eventsourcing.signing import PublicKeys, SigningKey
from shared.eventsourcing.topics import SERVICES, ensure_topics, events_topic

SITE = WorkSite(province="新疆", city="阜康市", site_name="阜康工业园")
OCCUPATION = "electrician"
BODY = "body-bench"
START = datetime(2025, 3, 1, tzinfo=UTC)
MINUTES = 240


@dataclass(frozen=True)
class Shape:
    trainees: int = 30
    sessions: int = 15
    certified_percent: int = 80

    def events_per_class(self) -> int:
        certified = self.trainees * self.certified_percent // 100
        return 3 + self.trainees * self.sessions + certified  # scheduled, assessment, completed

    def classes_for(self, events: int) -> int:
        return max(1, -(-(events - 1) // self.events_per_class()))


def policy_record() -> Consumed:
    """Funding's own policy (it comes from funding's store, not from the topics)."""
    event = FundingPolicyPublished(
        policy_id="bench", version=1, effective_from=date(2025, 1, 1),
        training_subsidies=[{"occupation_code": OCCUPATION, "level": 4, "amount_fen": 150000}],
        uplifts=[{"percent": 50, "province": SITE.province}],
        living_subsidy={"meals_fen_per_day": 6000, "transport_fen_per_day": 2000},
        attendance_threshold_percent=80, published_on=date(2025, 1, 1))
    return Consumed(event_id=str(uuid.uuid4()), stream_id="funding-policy-bench",
                    stream_version=1, recorded_at=START - timedelta(days=30), event=event)


def policy_body() -> dict:
    """The same policy as the HR bureau posts it to funding's API."""
    data = policy_record().event.model_dump(mode="json")
    return {k: v for k, v in data.items() if k not in ("version", "published_on")}


class Clock:
    """Source stores' recorded times: strictly increasing, a millisecond apart."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def tick(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def _envelope(service: str, stream: str, version: int, event: Event, at: datetime
              ) -> Envelope:
    return Envelope(id=uuid.uuid4(), source=f"/songji/{service}", type=event.ce_type(),
                    subject=stream, time=at, data=event.model_dump(mode="json"),
                    schema_version=event.schema_version, correlation_id=stream,
                    stream_version=version)


def body_envelope(clock: Clock) -> tuple[str, Envelope]:
    event = AssessmentBodyRegistered(body_id=BODY, name="阜康职业技能鉴定站")
    return "assessment", _envelope("assessment", f"body-{BODY}", 1, event, clock.tick())


def class_envelopes(index: int, shape: Shape, clock: Clock, *, prefix: str = "bench"
                    ) -> Iterator[tuple[str, Envelope]]:
    """One class's history in recorded order: (service, envelope) pairs."""
    class_id = f"{prefix}-class-{index}"
    stream = f"class-{class_id}"
    first = date(2025, 3, 1) + timedelta(days=index % 200)
    days = [first + timedelta(days=i) for i in range(shape.sessions)]
    workers = [f"{prefix}-w-{index}-{t}" for t in range(shape.trainees)]
    version = 0

    def training(event: Event) -> tuple[str, Envelope]:
        nonlocal version
        version += 1
        return "training", _envelope("training", stream, version, event, clock.tick())

    yield training(ClassScheduled(
        class_id=class_id, institution_id=f"inst-{index % 17}", occupation_code=OCCUPATION,
        target_level=4, site=SITE, mode="night", capacity=max(shape.trainees, 1),
        sessions=[SessionPlan(session_id=f"s{i}", date=d, start_local="19:00",
                              end_local="23:00", kind="practical_on_the_job", minutes=MINUTES)
                  for i, d in enumerate(days)],
        required_minutes=MINUTES * shape.sessions, trainer_ids=[f"trainer-{index % 23}"]))
    # Attendance is the bulk of the history: its data is built as the contract's JSON directly
    # (checked against the contract by the smoke test) to keep generation fast.
    for i, d in enumerate(days):
        for w in workers:
            version += 1
            yield "training", Envelope.model_construct(
                id=uuid.uuid4(), source="/songji/training", type=AttendanceRecorded.ce_type(),
                subject=stream, time=clock.tick(), schema_version=1, correlation_id=stream,
                causation_id=None, actor_org=None, actor_user=None, stream_version=version,
                position=None,
                data={"attendance_id": f"a-{w}-{i}", "class_id": class_id, "session_id": f"s{i}",
                      "session_date": d.isoformat(), "worker_id": w, "minutes": MINUTES,
                      "method": "face_check"})
    yield training(ClassCompleted(
        class_id=class_id, institution_id=f"inst-{index % 17}", occupation_code=OCCUPATION,
        target_level=4, site=SITE, first_session_date=first, completed_on=days[-1],
        threshold_percent=80, trainees=[
            TraineeOutcome(worker_id=w, attended_minutes=MINUTES * shape.sessions,
                           required_minutes=MINUTES * shape.sessions, attendance_ratio=1.0,
                           met_threshold=True) for w in workers]))
    assessment_id = f"as-{class_id}"
    yield "assessment", _envelope("assessment", f"assessment-{assessment_id}", 1,
                                  AssessmentScheduled(
        assessment_id=assessment_id, body_id=BODY, class_id=class_id,
        occupation_code=OCCUPATION, level=4, assessor_ids=["assessor-1"],
        candidate_ids=workers, scheduled_on=days[-1] + timedelta(days=3)), clock.tick())
    certified = workers[: shape.trainees * shape.certified_percent // 100]
    for w in certified:
        cert_id = f"cert-{w}"
        yield "assessment", _envelope("assessment", f"certificate-{cert_id}", 1,
                                      SkillLevelCertified(
            certificate_id=cert_id, certificate_number=f"N-{w}", worker_id=w,
            occupation_code=OCCUPATION, level=4, body_id=BODY, assessment_id=assessment_id,
            class_id=class_id, certified_on=days[-1] + timedelta(days=5)), clock.tick())


def bench_signing_key(service: str) -> SigningKey:
    """A fixed key per service for the benchmark's histories (made from the service's name:
    a benchmark has nothing to protect, and the replay's process derives the same)."""
    seed = hashlib.sha256(f"songji-bench-{service}".encode()).digest()
    return SigningKey(base64.urlsafe_b64encode(seed).decode())


def bench_public_keys() -> PublicKeys:
    return PublicKeys.from_setting(PublicKeys.setting(
        {s: bench_signing_key(s).public_text() for s in SERVICES}))


def history(events: int, shape: Shape = Shape()) -> Iterator[tuple[str, Envelope]]:
    """About ``events`` events (whole classes), classes interleaved a little as in real life."""
    clock = Clock()
    yield body_envelope(clock)
    for index in range(shape.classes_for(events)):
        yield from class_envelopes(index, shape, clock)


async def write_history(bootstrap: str, prefix: str, events: int, *, shape: Shape = Shape(),
                        partitions: int = 3, progress: Callable[[int], None] | None = None
                        ) -> int:
    """Produce the history to ``<prefix>.training.events`` / ``.assessment.events``."""
    topics = {s: events_topic(s, prefix) for s in ("training", "assessment")}
    signers = {s: bench_signing_key(s) for s in topics}  # as each service's relay signs
    await ensure_topics(bootstrap, topics.values(), partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20,
                                max_batch_size=512 * 1024)
    await producer.start()
    written = 0
    # Each service's events are signed as its relay signs them, a batch at a time.
    unsigned: dict[str, list[tuple[bytes, list[tuple[str, bytes]], bytes]]] = {
        s: [] for s in topics}

    async def send(service: str) -> list:
        batch = unsigned[service]
        sign_batch([(headers, value) for _, headers, value in batch], signers[service])
        sent = [await producer.send(topics[service], value, key=key, headers=headers)
                for key, headers, value in batch]
        batch.clear()
        return sent

    try:
        pending = []
        for service, env in history(events, shape):
            unsigned[service].append((env.subject.encode(), env.kafka_headers(),
                                      env.kafka_value()))
            if len(unsigned[service]) >= SIGNED_TOGETHER:
                pending += await send(service)
            written += 1
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
                if progress:
                    progress(written)
        for service in topics:
            pending += await send(service)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return written
