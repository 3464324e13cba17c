"""Every event a `make run`-sized journey publishes means what its committed schema declares.

The demo is played as `make run` plays it (149 workers, seed 2025) against the six services
as processes (as `songji run` does,
funding's test clock on), on servers this test keeps; then every record on each service's
topic is read back, all that its store holds, and its data validated against
``schemas/<ce_type>.json`` with formats asserted (tests/committed_schemas.py). Every type the
contracts define is published by the journey, but for those listed in ``NOT_IN_THE_JOURNEY``
with the reason the demo cannot produce them.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from shared.auth.tokens import ENV_FILE, ENV_INLINE
from shared.contracts.base import registered_events
from shared.eventsourcing.topics import SERVICES, events_topic
from shared.infra.dev_organisations import dev_tokens
from songji.demo.runner import run_demo
from songji.launcher import Launcher
from tests.committed_schemas import SCHEMAS, schema_errors
from tests.support import header, read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

# Enough workers for both courses, a trainee below the attendance threshold, a failed
# assessment, a worker who does not consent to a referral (index 4), one an employer declines
# (index 3) and one gone by the follow-up (index 5); seed as tests/e2e/test_demo.py.
WORKERS, SEED = 149, 2025  # `make run`'s journey

# The types the contracts define that the demo's journey never produces, and why.
NOT_IN_THE_JOURNEY: dict[str, str] = {
    "songji.enrolment.EnrolmentWithdrawn.v1":
        "no worker leaves a class: the demo never calls /enrolments/{id}/withdrawal",
    "songji.training.InstitutionSuspended.v1":
        "the one institution stays accredited throughout: nothing is suspended",
    "songji.training.InstitutionReinstated.v1": "only a suspended institution is reinstated",
    "songji.assessment.AssessmentResultVoided.v1":
        "no result is recorded in error: the demo never voids a result",
    "songji.assessment.CertificationRevoked.v1": "no certificate is revoked",
    "songji.funding.PayoutReversed.v1":
        "a reversal follows a void or revocation after a line fell due; the demo's one void "
        "(an attendance record) comes before any line",
    "songji.funding.RecoveryReceived.v1":
        "money comes back only for a reversed line already paid: there is none",
    "songji.employment.VacancyClosed.v1":
        "the vacancies stay open (they close 30 days after the journey's day)",
    "songji.employment.BusinessGuidanceRequested.v1":
        "the demo's certified workers look for jobs; none asks for help starting a business",
    "songji.employment.BusinessGuidanceGiven.v1": "guidance answers a request: there is none",
    "songji.employment.TrainingOrderPlaced.v1":
        "the demo's classes come from the county's own plan, not from an employer's order",
    "songji.employment.TrainingOrderPlanned.v1": "only a placed order is planned",
    "songji.employment.TrainingOrderCancelled.v1": "only a placed order is cancelled",
    "songji.notifications.NotificationFailed.v1":
        "the local channel delivers every notice, and every worker has a mobile number",
}


async def stored_count(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM events"))
    finally:
        await connection.close()


async def test_every_event_of_the_journey_validates_against_its_schema(
    postgres_url: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # the demo's own organisations and tokens (written in tmp_path), as `songji run` has them
    for setting in (ENV_INLINE, ENV_FILE):
        monkeypatch.delenv(setting, raising=False)
    launcher = Launcher(postgres_url=postgres_url, kafka_bootstrap=kafka_bootstrap,
                        state_dir=tmp_path, topic_prefix=topic_prefix,
                        database_prefix=topic_prefix, extra_env={"SONGJI_TEST_CLOCK": "true"})
    try:
        processes = await launcher.start()
        dsns = {name: p.dsn for name, p in processes.items()}
        out = io.StringIO()
        code = await run_demo({name: p.url for name, p in processes.items()},
                              dev_tokens(tmp_path), workers=WORKERS, seed=SEED, dsns=dsns,
                              out=out)
        assert code == 0, out.getvalue()[-4000:]

        seen: Counter[str] = Counter()
        errors: list[str] = []
        for service in SERVICES:
            # the relay publishes what the store holds: all of it must reach the topic
            stored = await stored_count(dsns[service])
            records = await read_topic(kafka_bootstrap, events_topic(service, topic_prefix),
                                       at_least=stored, seconds=30)
            assert len(records) >= stored > 0, (service, len(records), stored)
            for record in records:
                ce_type = header(record, "ce_type")
                assert ce_type is not None and ce_type.startswith(f"songji.{service}."), ce_type
                assert (SCHEMAS / f"{ce_type}.json").exists(), f"no committed schema: {ce_type}"
                errors += schema_errors(ce_type, json.loads(record.value))
                seen[ce_type] += 1
    finally:
        launcher.stop()

    assert errors == [], "\n".join(errors[:50])
    print(f"\n{sum(seen.values())} events of {len(seen)} types validated:")
    for ce_type, count in sorted(seen.items()):
        print(f"  {ce_type:55} {count}")

    defined = set(registered_events())
    assert set(NOT_IN_THE_JOURNEY) <= defined, set(NOT_IN_THE_JOURNEY) - defined
    # every type of every service that the journey can produce, it did produce
    assert defined - set(NOT_IN_THE_JOURNEY) <= set(seen), sorted(
        defined - set(NOT_IN_THE_JOURNEY) - set(seen))
    # and what is listed as out of reach stays so: else it belongs in the check above
    assert not set(NOT_IN_THE_JOURNEY) & set(seen), sorted(set(NOT_IN_THE_JOURNEY) & set(seen))
    assert {t.split(".")[1] for t in seen} == set(SERVICES)
