"""Fuzz every service's HTTP API from its own OpenAPI document (Schemathesis).

Two rules hold for every generated request, valid or not, from every test organisation:
- no 5xx: the service never fails on input, it refuses it (401, 403, 404, 409, 422);
- a refused request (status >= 400) leaves no trace: every table of the service's database,
  the event store first, is unchanged. The event store is the outbox, so nothing can have
  been published either; at the end, every record on the service's topic is an event of its
  store.

The service runs in this process with its whole lifespan (database, relay, consumers) on the
embedded PostgreSQL and broker, alone on its own topic prefix, so nothing but the request
under test writes to its database. Schemathesis sends each request through ASGI and runs its
checks of the answer against the schema.

Bounded for ``make test`` (a few examples per operation, derandomised so a run is
reproducible); ``make fuzz`` (or ``SONGJI_FUZZ_EXAMPLES=200``) runs the long one.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python.asgi import get_client, shutdown_lifespans

from services.assessment.app import SPEC as ASSESSMENT
from services.employment.app import SPEC as EMPLOYMENT
from services.enrolment.app import SPEC as ENROLMENT
from services.funding.app import SPEC as FUNDING
from services.notifications.app import SPEC as NOTIFICATIONS
from services.training.app import SPEC as TRAINING
from shared.eventsourcing.topics import events_topic
from shared.runtime.service import ServiceSpec
from tests.integration.fuzz_seeds import SEEDS, KnownIds
from tests.orgs import ORG_IDS, auth
from tests.support import TEST_SECRETS, header, read_topic, service_app

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("SONGJI_FUZZ_EXAMPLES", "6"))

# Relay bookkeeping: the relay checkpoints, in the background, what it published after an
# earlier accepted request, whatever the request under test does. It holds no state of the
# domain; what was published is checked against the topic at the end instead.
NOT_STATE = frozenset({"relay_checkpoint"})

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]


def _service_settings(spec: ServiceSpec, tmp_path: Any) -> dict[str, Any]:
    if spec.name == "notifications":
        # Webhooks can only be registered with the key that seals their secrets (the seeds'
        # receivers are on loopback, allowed in local mode); messages go to a file, and the
        # enrolment contact lookup points nowhere (no worker is known).
        return {"webhook_secret_key": TEST_SECRETS["personal_data_key"],
                "webhook_allow_local": True,
                "local_channel_path": tmp_path / "messages.jsonl",
                "enrolment_url": "http://127.0.0.1:9"}
    return {}


Fingerprint = dict[str, tuple[int, str]]


class Store:
    """A fingerprint of every table of the service's database, read on its own connection."""

    def __init__(self, dsn: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._conn: asyncpg.Connection = self._run(asyncpg.connect(dsn))

    def _run(self, coro: Awaitable[Any]) -> Any:
        return self._loop.run_until_complete(coro)

    def close(self) -> None:
        self._run(self._conn.close())
        self._loop.close()

    def fingerprint(self) -> Fingerprint:
        """Rows and a digest of their contents, per table: any insert, update or delete shows."""

        async def read() -> Fingerprint:
            result = {}
            tables = await self._conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
            for table in (r["tablename"] for r in tables if r["tablename"] not in NOT_STATE):
                row = await self._conn.fetchrow(
                    f'SELECT count(*) AS n, coalesce(string_agg(md5(t::text), \'\' '
                    f'ORDER BY md5(t::text)), \'\') AS digest FROM "{table}" t')
                result[table] = (row["n"], hashlib.sha256(row["digest"].encode()).hexdigest())
            return result

        return self._run(read())

    def settled(self, seconds: float = 60.0) -> None:
        """Wait until no background work an earlier accepted request started is unfinished.

        Funding's recompute jobs (a 202 to ``POST /policies``) write the ledger after their
        request has been answered, and so do notifications' backfill scans (a 202 to ``POST
        /webhooks/{id}/backfill``) and the auditor's chain verifications (a 202 to ``POST
        /audit/chain/verifications``, which record their progress); a fingerprint taken
        while one runs would blame the next request for the job's writes."""

        async def unfinished() -> int:
            total = 0
            for table, waiting in (("funding_jobs", "('queued', 'running')"),
                                   ("webhook_backfills", "('pending', 'scanning')"),
                                   ("chain_verifications", "('running')")):
                if await self._conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
                    total += await self._conn.fetchval(
                        f"SELECT count(*) FROM {table} WHERE state IN {waiting}")
            return total

        deadline = time.monotonic() + seconds
        while self._run(unfinished()):
            assert time.monotonic() < deadline, f"background jobs still unfinished after {seconds}s"
            time.sleep(0.05)

    def event_ids(self) -> set[str]:
        rows = self._run(self._conn.fetch("SELECT event_id::text FROM events"))
        return {r["event_id"] for r in rows}


@contextmanager
def fuzzed_service(spec: ServiceSpec, dsn: str, bootstrap: str, prefix: str,
                   tmp_path: Any) -> Iterator[tuple[schemathesis.BaseSchema, KnownIds]]:
    """The service's schema, its app started and seeded; stopped on the way out."""
    app = service_app(spec, database_url=dsn, bootstrap=bootstrap, topic_prefix=prefix,
                      **_service_settings(spec, tmp_path))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    try:
        # Schemathesis runs the app's lifespan on its own event loop thread (started here by
        # the first request) and sends every request there, one at a time.
        with get_client(app) as client:

            def send(method: str, path: str, org: str, body: dict[str, Any]) -> Any:
                return client.request(method, path, json=body, headers=auth(org))

            # The service answers at once but consumes only once its consumers joined their
            # groups: until then /ready is a truthful 503, not a failure to find.
            deadline = time.monotonic() + 90
            while client.get("/ready").status_code != 200:
                assert time.monotonic() < deadline, "the service was not ready in 90 s"
                time.sleep(0.2)
            known = SEEDS[spec.name](send)
        yield schema, known
    finally:
        shutdown_lifespans()


def _explain(exc: BaseException) -> str:
    """The failure with the failures it groups (Hypothesis reports a flaky one as a group)."""
    grouped = getattr(exc, "exceptions", None) or ()
    return "\n".join([f"{type(exc).__name__}: {exc}", *(f"  - {_explain(e)}" for e in grouped)])


def _changes(before: Fingerprint, after: Fingerprint) -> list[str]:
    return [f"{table}: {before.get(table, (0, ''))[0]} rows -> {after.get(table, (0, ''))[0]}"
            for table in sorted(set(before) | set(after)) if before.get(table) != after.get(table)]


def _cases(operation: schemathesis.APIOperation, mode: GenerationMode,
           known: KnownIds) -> st.SearchStrategy[schemathesis.Case]:
    """Cases with generated path parameters, and as many again naming what was seeded."""
    generated = operation.as_strategy(generation_mode=mode)
    names = [p.name for p in operation.path_parameters]
    if not names or not all(name in known for name in names):
        return generated
    seeded = st.fixed_dictionaries({n: st.sampled_from(known[n]) for n in names}).flatmap(
        lambda path: operation.as_strategy(generation_mode=mode, path_parameters=path))
    return st.one_of(generated, seeded)


# Every organisation of every role, and none: fuzzing reaches the handlers, not only the 401.
ACTING: list[str | None] = [*ORG_IDS, None]


@pytest.mark.timeout(300 + 20 * EXAMPLES)
# Schemathesis's own strategies draw from `random` (its business, not a flaw of ours)
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
@pytest.mark.parametrize("spec", [ENROLMENT, TRAINING, ASSESSMENT, FUNDING, NOTIFICATIONS,
                                  EMPLOYMENT],
                         ids=lambda spec: spec.name)
def test_no_server_error_and_no_trace_of_a_refused_request(
        spec: ServiceSpec, postgres_url: str, kafka_bootstrap: str,
        new_database: Callable[[], Awaitable[str]], topic_prefix: str, tmp_path: Any) -> None:
    dsn = loop_run(new_database())
    failures: list[str] = []
    started = time.monotonic()
    statuses: Counter[int] = Counter()
    with fuzzed_service(spec, dsn, kafka_bootstrap, topic_prefix, tmp_path) as (schema, known):
        store = Store(dsn)
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @given(case=_cases(operation, mode, known), org=st.sampled_from(ACTING))
                @settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                          database=None, suppress_health_check=list(HealthCheck),
                          phases=[Phase.explicit, Phase.generate])
                def fuzz(case: schemathesis.Case, org: str | None) -> None:
                    # A case made to lack valid credentials is sent as made (it must get 401).
                    negated = schema.is_security_param_negated(case)
                    headers = auth(org) if org and not negated else None
                    store.settled()
                    before = store.fingerprint()
                    response = case.call(headers=headers)
                    statuses[response.status_code] += 1
                    if response.status_code >= 400:
                        changed = _changes(before, store.fingerprint())
                        assert not changed, (
                            f"{case.operation.label} refused with {response.status_code} but "
                            f"changed the store: {changed}\n{case.as_curl_command(headers)}")
                    case.validate_response(response, checks=CHECKS, headers=headers)

                try:
                    fuzz()
                except Unsatisfiable:
                    pass  # nothing to make invalid (no parameters, no body)
                except (Exception, BaseExceptionGroup) as exc:
                    failures.append(f"{operation.label} [{mode.value}]: {_explain(exc)}")
        event_ids = store.event_ids()
        store.close()
    # The relay had every chance to publish (shutdown drains it): whatever is on the topic
    # must be an event of the store, so no refused request published anything either.
    records = loop_run(read_topic(kafka_bootstrap, events_topic(spec.name, topic_prefix),
                                  at_least=len(event_ids), seconds=10))
    stray = {header(r, "ce_id") for r in records} - event_ids
    assert not stray, f"published events that are not in the store: {stray}"
    print(f"\n{spec.name}: {sum(statuses.values())} requests in "
          f"{time.monotonic() - started:.1f}s, {len(event_ids)} events stored; "
          f"statuses {dict(sorted(statuses.items()))}")
    assert not failures, "\n\n".join(failures)


def loop_run(coro: Awaitable[Any]) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
