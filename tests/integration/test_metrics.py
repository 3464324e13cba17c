"""``GET /metrics`` after a small journey: the counts are those of what happened.

Enrolment and notifications run in this process side by side, each with its own registry: a
registration over HTTP, its event published by the relay and applied by notifications' inbox,
the same record delivered again (a duplicate) and a broken one (a dead letter). Funding, fed a
class's events, shows its ledger lines by status and the money due.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.enrolment.app import SPEC as ENROLMENT
from services.funding.app import SPEC as FUNDING
from services.notifications.app import SPEC as NOTIFICATIONS
from shared.eventsourcing.topics import events_topic
from songji.status import scrape_all, summarise
from tests.integration.test_funding_service import POLICY, Source, certificate, run_class
from tests.integration.test_skeleton_services import HR, register
from tests.orgs import auth
from tests.support import eventually, produce, read_topic, running_service

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    """Every sample of the service's ``/metrics``, asked without a token (it is public)."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_http_relay_and_consumer_counts_after_a_registration(
    new_database: Callable[[], Awaitable[str]], kafka_bootstrap: str, topic_prefix: str
) -> None:
    common = dict(bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    consumer = "notifications.workers"
    async with (running_service(ENROLMENT, database_url=await new_database(), **common)
                as (_, enrol),
                running_service(NOTIFICATIONS, database_url=await new_database(), **common)
                as (_, notes)):
        worker_id = await register(enrol, 41)
        refused = await enrol.post("/workers", json={"name": "x"}, headers=auth("station-fukang"))
        assert refused.status_code == 422

        async def known() -> bool:
            return (await notes.get(f"/workers/{worker_id}", headers=HR)).status_code == 200
        await eventually(known)
        topic = events_topic("enrolment", topic_prefix)
        [record] = await read_topic(kafka_bootstrap, topic, at_least=1)
        await produce(kafka_bootstrap, topic, record.value, key=record.key,
                      headers=list(record.headers))
        await produce(kafka_bootstrap, topic, b"{not json", key=b"worker-x",
                      headers=[("ce_specversion", b"1.0"), ("ce_id", b"bad-1")])

        async def consumed() -> Samples | None:
            samples = await scrape(notes)
            done = value(samples, "songji_consumer_events_total", consumer=consumer,
                         outcome="dead-lettered")
            return samples if done >= 1 else None
        notes_samples = await eventually(consumed)
        enrol_samples = await eventually(lambda: _published(enrol, topic))

        # `songji status` reads the same endpoints (here through the in-process clients)
        clients = {"http://enrolment": enrol, "http://notifications": notes}

        async def fetch(address: str) -> str:
            return (await clients[address].get("/metrics")).text
        statuses, silent = summarise(await scrape_all(list(clients), fetch))

    # enrolment: the two requests by route template and status, the relay caught up
    assert value(enrol_samples, "http_requests_total", handler="/workers", method="POST",
                 status="201") == 1
    assert value(enrol_samples, "http_requests_total", handler="/workers", method="POST",
                 status="422") == 1
    assert value(enrol_samples, "http_request_duration_seconds_count", handler="/workers",
                 method="POST") == 2
    assert value(enrol_samples, "songji_relay_published_events_total", topic=topic) == 1
    assert value(enrol_samples, "songji_relay_lag_events", topic=topic) == 0
    assert value(enrol_samples, "songji_store_head_position") == 1
    assert value(enrol_samples, "songji_service", service="enrolment") == 1
    assert value(enrol_samples, "songji_event_loop_lag_seconds_count") > 0  # the loop watched
    # a registration's stream is short: its state is not kept, so neither hit nor miss
    for outcome in ("hit", "miss"):
        assert enrol_samples[("songji_command_states_total",
                              frozenset({("outcome", outcome)}))] == 0
    # notifications: its own registry (none of enrolment's requests), the inbox's outcomes
    assert value(notes_samples, "songji_service", service="notifications") == 1
    assert value(notes_samples, "songji_service", service="enrolment") == 0
    assert not any(name == "http_requests_total" and ("handler", "/workers") in labels
                   and ("method", "POST") in labels for name, labels in notes_samples)
    assert value(notes_samples, "songji_consumer_events_total", consumer=consumer,
                 outcome="applied") == 1
    assert value(notes_samples, "songji_consumer_events_total", consumer=consumer,
                 outcome="duplicate") == 1
    assert value(notes_samples, "songji_consumer_dead_letters_total", consumer=consumer,
                 reason="invalid") == 1
    assert value(notes_samples, "songji_consumer_dead_letters_total", consumer=consumer,
                 reason="forged") == 0
    assert silent == []
    by_name = {s.service: s for s in statuses}
    assert (by_name["enrolment"].replicas, by_name["enrolment"].relay_lag) == (1, 0)
    # the status sums the service's consumers: both of notifications' (its workers' and its
    # xAPI statements') read enrolment's topic, and each dead-letters the malformed record
    readers = sum(1 for sub in NOTIFICATIONS.subscriptions if "enrolment" in sub.services)
    assert readers == 2 and by_name["notifications"].dead_letters == {"invalid": readers}
    assert by_name["notifications"].consumer_lag.get(consumer) == 0
    lags = {dict(labels)["partition"]: v for (name, labels), v in notes_samples.items()
            if name == "songji_consumer_lag_records" and ("consumer", consumer) in labels}
    assert lags and all(v == 0 for v in lags.values()), lags


async def _published(client: httpx.AsyncClient, topic: str) -> Samples | None:
    samples = await scrape(client)
    published = value(samples, "songji_relay_published_events_total", topic=topic)
    return samples if published >= 1 else None


async def test_funding_ledger_lines_by_status_and_money_due(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    src = Source(kafka_bootstrap, topic_prefix)
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        api.headers.update(auth("hr"))
        assert (await api.post("/policies", json=POLICY)).status_code == 202
        allocation = await api.post("/budget/allocations", json={
            "allocation_id": "a1", "fund": "municipal-special", "amount_fen": 10_000_00})
        assert allocation.status_code == 201, allocation.text
        await run_class(src, {"w-1": 15, "w-2": 10})
        await src.send("assessment", "cert-w-1", certificate("w-1"))

        async def ledger() -> Samples | None:
            samples = await scrape(api)
            lines = sum(v for (name, _), v in samples.items()
                        if name == "songji_funding_ledger_lines")
            return samples if lines >= 3 else None
        samples = await eventually(ledger)
        recorded = (await api.get("/ledger")).json()
    # the institution's training subsidy and two trainees' living subsidies (all due), by
    # status as the ledger shows them, with their money
    assert len(recorded) == 3
    by_status: dict[str, list[int]] = {}
    for line in recorded:
        by_status.setdefault(line["status"], []).append(line["amount_fen"])
    shown = {dict(labels)["status"]: v for (name, labels), v in samples.items()
             if name == "songji_funding_ledger_lines"}
    assert shown == {status: len(amounts) for status, amounts in by_status.items()}
    for status, amounts in by_status.items():
        assert value(samples, "songji_funding_ledger_fen", status=status) == sum(amounts)
    assert value(samples, "songji_funding_ledger_fen", status="due") == 225000 + 120000 + 80000
    assert value(samples, "songji_funding_fund_fen", fund="municipal-special",
                 figure="allocated") == 1_000_000
    assert value(samples, "songji_funding_fund_fen", fund="municipal-special",
                 figure="paid") == 0
    assert value(samples, "songji_consumer_events_total", consumer="funding.ledger-inputs",
                 outcome="applied") >= 1
