"""One trace from an HTTP command to funding's derivation of a ledger line, across the bus.

Funding has a class's events and a certificate from an assessment body it does not know yet
(so no training subsidy is due). Registering the body over assessment's HTTP API is the
command: its append, the relay's publish, funding's apply, funding's derivation of the
institution's training subsidy, and that line's own append all carry the HTTP span's trace id,
which travels on the bus as the CloudEvents distributed-tracing extension. Spans are kept in
memory (no exporter, nothing sent anywhere).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.assessment.app import SPEC as ASSESSMENT
from services.funding.app import SPEC as FUNDING
from shared import tracing
from shared.contracts.training import (
    AttendanceRecorded,
    ClassCompleted,
    ClassScheduled,
    SessionPlan,
    TraineeOutcome,
)
from shared.eventsourcing.topics import events_topic
from tests.integration.test_funding_service import DAYS, FUKANG, POLICY, Source, certificate
from tests.orgs import auth
from tests.support import eventually, header, read_topic, running_service

pytestmark = pytest.mark.integration


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    try:
        yield exporter
    finally:
        tracing.disable()
        provider.shutdown()


async def send_class_without_its_body(src: Source) -> None:
    sessions = [SessionPlan(session_id=f"s{i}", date=d, start_local="19:00", end_local="23:00",
                            kind="practical_on_the_job", minutes=240)
                for i, d in enumerate(DAYS)]
    await src.send("training", "class-fk", ClassScheduled(
        class_id="fk", institution_id="inst-1", occupation_code="electrician", target_level=4,
        site=FUKANG, mode="night", capacity=200, sessions=sessions, required_minutes=3600))
    for i, d in enumerate(DAYS):
        await src.send("training", "class-fk", AttendanceRecorded(
            attendance_id=f"a-w-1-{i}", class_id="fk", session_id=f"s{i}", session_date=d,
            worker_id="w-1", minutes=240, method="face_check"))
    await src.send("training", "class-fk", ClassCompleted(
        class_id="fk", institution_id="inst-1", occupation_code="electrician",
        target_level=4, site=FUKANG, first_session_date=DAYS[0], completed_on=DAYS[-1],
        threshold_percent=80, trainees=[TraineeOutcome(
            worker_id="w-1", attended_minutes=3600, required_minutes=3600,
            attendance_ratio=1.0, met_threshold=True)]))
    await src.send("assessment", "cert-w-1", certificate("w-1"))


async def test_one_trace_from_the_http_command_to_the_ledger_line(
    spans: InMemorySpanExporter, new_database: Callable[[], Awaitable[str]],
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    common = dict(bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    src = Source(kafka_bootstrap, topic_prefix)
    async with (running_service(FUNDING, database_url=await new_database(), **common)
                as (_, funding),
                running_service(ASSESSMENT, database_url=await new_database(), **common)
                as (_, assessment)):
        funding.headers.update(auth("hr"))
        assert (await funding.post("/policies", json=POLICY)).status_code == 202
        await send_class_without_its_body(src)

        async def rules() -> set[str]:
            return {x["rule"] for x in (await funding.get("/ledger")).json()}
        assert await eventually(lambda: _has(rules, "living_subsidy"))
        assert "training_subsidy" not in await rules()  # the body is not known yet

        response = await assessment.post("/bodies", headers=auth("hr"), json={
            "body_id": "body-xj", "name": "Xinjiang appraisal centre", "code": "XJ"})
        assert response.status_code == 204, response.text
        assert await eventually(lambda: _has(rules, "training_subsidy"))
        payouts = await read_topic(kafka_bootstrap, events_topic("funding", topic_prefix),
                                   at_least=3)

    finished: list[ReadableSpan] = list(spans.get_finished_spans())
    [http] = [s for s in finished if s.name == "POST /bodies" and s.parent is None]
    trace_id = http.context.trace_id
    in_trace = [s for s in finished if s.context.trace_id == trace_id]
    named = {(s.name, s.attributes.get("songji.event_type", "")) for s in in_trace}
    body_type = "songji.assessment.AssessmentBodyRegistered.v1"
    assert ("songji.append", body_type) in named
    assert ("songji.publish", body_type) in named
    assert ("songji.apply", body_type) in named
    assert any(name == "funding.derive" for name, _ in named)
    assert ("songji.append", "songji.funding.PayoutDue.v1") in named
    # the apply is funding's, and its derivation runs inside it
    [apply] = [s for s in in_trace if s.name == "songji.apply"]
    assert apply.attributes["songji.consumer"] == "funding.ledger-inputs"
    [derive] = [s for s in in_trace if s.name == "funding.derive"]
    assert derive.parent is not None and derive.parent.span_id == apply.context.span_id

    # on the bus: the training subsidy's PayoutDue carries the trace as the CloudEvents
    # extension (signed with its other ce_* attributes) and the hop's own trace headers
    trace_hex = f"{trace_id:032x}"
    [line] = [r for r in payouts if json.loads(r.value).get("rule") == "training_subsidy"]
    assert header(line, "ce_traceparent").split("-")[1] == trace_hex
    assert header(line, "traceparent").split("-")[1] == trace_hex
    assert header(line, "ce_traceparent") != header(line, "traceparent")  # origin, then hop


async def _has(rules: Callable[[], Awaitable[set[str]]], rule: str) -> bool:
    return rule in await rules()
