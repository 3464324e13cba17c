"""Funding in-process on the real PostgreSQL and broker: consumed events become ledger lines,
published as PayoutDue / PayoutReversed; redelivery has no effect; the auditor's replay
equals the recorded ledger; an edited store row fails verification."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.funding.app import SPEC as FUNDING
from shared.audit.verify import verify_stores
from shared.contracts import Envelope, Event
from shared.contracts.assessment import (
    AssessmentBodyRegistered,
    CertificationRevoked,
    SkillLevelCertified,
)
from shared.contracts.common import WorkSite
from shared.contracts.training import (
    AttendanceRecorded,
    ClassCompleted,
    ClassScheduled,
    SessionPlan,
    TraineeOutcome,
)
from shared.eventsourcing.topics import events_topic
from songji.audit.funding_replay import records_from_topics, replay
from tests.orgs import auth, token
from tests.support import (
    TEST_PUBLIC_KEYS,
    eventually,
    produce,
    public_keys_in_tests,
    read_topic,
    running_service,
    signed,
    songji,
)

pytestmark = pytest.mark.integration

FUKANG = WorkSite(province="Xinjiang", city="Fukang", site_name="Fukang farm site")
DAYS = [date(2025, 7, 24) + timedelta(days=i) for i in range(15)]


class Source:
    """Publishes events as a source service's relay would (CloudEvents binary mode)."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap, self.prefix = bootstrap, prefix
        self.versions: dict[str, int] = {}
        # the sources record after funding published its policy, as in real life
        self.clock = datetime.now(UTC)
        self.sent: list[tuple[str, Envelope]] = []

    async def send(self, service: str, stream: str, event: Event) -> Envelope:
        self.clock = max(self.clock + timedelta(milliseconds=1), datetime.now(UTC))
        self.versions[stream] = self.versions.get(stream, 0) + 1
        env = Envelope(id=uuid.uuid4(), source=f"/songji/{service}", type=event.ce_type(),
                       subject=stream, time=self.clock, data=event.model_dump(mode="json"),
                       schema_version=1, correlation_id=f"c-{stream}",
                       stream_version=self.versions[stream])
        await self.resend(service, env)
        self.sent.append((service, env))
        return env

    async def resend(self, service: str, env: Envelope) -> None:
        value, headers = signed(env)
        await produce(self.bootstrap, events_topic(service, self.prefix), value,
                      key=env.subject.encode(), headers=headers)


POLICY = {
    "policy_id": "luquan-2025", "effective_from": "2025-01-01",
    "training_subsidies": [{"occupation_code": "electrician", "level": 4,
                            "amount_fen": 150000}],
    "uplifts": [{"percent": 50, "province": "Xinjiang"}],
    "living_subsidy": {"meals_fen_per_day": 6000, "transport_fen_per_day": 2000},
    "attendance_threshold_percent": 80,
}


async def run_class(src: Source, workers: dict[str, int]) -> None:
    sessions = [SessionPlan(session_id=f"s{i}", date=d, start_local="19:00",
                            end_local="23:00", kind="practical_on_the_job", minutes=240)
                for i, d in enumerate(DAYS)]
    await src.send("assessment", "body-xj", AssessmentBodyRegistered(
        body_id="body-xj", name="Xinjiang appraisal centre"))
    await src.send("training", "class-fk", ClassScheduled(
        class_id="fk", institution_id="inst-1", occupation_code="electrician", target_level=4,
        site=FUKANG, mode="night", capacity=200, sessions=sessions, required_minutes=3600))
    for i, d in enumerate(DAYS):
        for worker, n in workers.items():
            if i < n:
                await src.send("training", "class-fk", AttendanceRecorded(
                    attendance_id=f"a-{worker}-{i}", class_id="fk", session_id=f"s{i}",
                    session_date=d, worker_id=worker, minutes=240, method="face_check"))
    await src.send("training", "class-fk", ClassCompleted(
        class_id="fk", institution_id="inst-1", occupation_code="electrician",
        target_level=4, site=FUKANG, first_session_date=DAYS[0], completed_on=DAYS[-1],
        threshold_percent=80, trainees=[
            TraineeOutcome(worker_id=w, attended_minutes=240 * n, required_minutes=3600,
                           attendance_ratio=n / 15, met_threshold=n >= 12)
            for w, n in workers.items()]))


def certificate(worker: str) -> SkillLevelCertified:
    return SkillLevelCertified(
        certificate_id=f"cert-{worker}", certificate_number=f"N-{worker}", worker_id=worker,
        occupation_code="electrician", level=4, body_id="body-xj", assessment_id="as-1",
        class_id="fk", certified_on=date(2025, 8, 10))


async def test_certify_due_revoke_reversal_redelivery_replay_and_verify(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    src = Source(kafka_bootstrap, topic_prefix)
    async with running_service(FUNDING, database_url=database, bootstrap=kafka_bootstrap,
                               topic_prefix=topic_prefix) as (_, api):
        api.headers.update(auth("hr"))
        denied = await api.post("/policies", json=POLICY, headers=auth("org-inst-1"))
        assert denied.status_code == 403 and denied.json()["code"] == "wrong_role"
        assert (await api.post("/policies", json=POLICY)).status_code == 202
        bad = {**POLICY, "uplifts": [{"percent": 60, "province": "Xinjiang"}]}
        refused = await api.post("/policies", json=bad)
        assert refused.status_code == 409 and refused.json()["code"] == "uplift_above_ceiling"
        allocation = await api.post("/budget/allocations", json={
            "allocation_id": "a1", "fund": "municipal-special", "amount_fen": 10_000_00})
        assert allocation.status_code == 201, allocation.text

        await run_class(src, {"w-1": 15, "w-2": 10})
        await src.send("assessment", "cert-w-1", certificate("w-1"))

        async def lines(**params):
            response = await api.get("/ledger", params=params)
            return response.json()

        async def training_due():
            return [x for x in await lines() if x["rule"] == "training_subsidy"]
        [due] = await eventually(training_due)
        # 1,500 yuan + 50% = 2,250 yuan to the institution
        assert (due["payee_id"], due["amount_fen"], due["status"]) == ("inst-1", 225000, "due")
        living = {x["worker_id"]: x["amount_fen"] for x in await lines()
                  if x["rule"] == "living_subsidy"}
        assert living == {"w-1": 120000, "w-2": 80000}  # 15 and 10 days x 80 yuan

        # the same certificate delivered again changes nothing
        await src.resend("assessment", src.sent[-1][1])
        revocation = await src.send("assessment", "cert-w-1", CertificationRevoked(
            certificate_id="cert-w-1", certificate_number="N-w-1", worker_id="w-1",
            occupation_code="electrician", level=4, class_id="fk", reason="forged",
            revoked_on=date(2025, 9, 1)))

        async def reversed_():
            return [x for x in await lines(worker_id="w-1") if x["kind"] == "reversal"]
        [reversal] = await eventually(reversed_)
        assert reversal["amount_fen"] == -225000
        assert reversal["corrects_line_id"] == due["line_id"]
        assert str(revocation.id) in reversal["justified_by"]
        assert len(await lines()) == 4
        own = (await api.get("/ledger", headers=auth("org-inst-1"))).json()
        assert {x["payee_id"] for x in own} == {"inst-1"} and len(own) == 2
        assert (await api.get("/ledger", headers=auth("media"))).status_code == 403

        budget = (await api.get("/budget")).json()
        assert budget == [{"fund": "municipal-special", "allocated_fen": 1_000_000,
                           "committed_fen": 200000, "paid_fen": 0, "recovered_fen": 0,
                           "available_fen": 800000}]
        estimate = (await api.get("/grants/estimate", params={
            "occupation": "electrician", "level": 4, "province": "Xinjiang", "city": "Fukang",
            "first_session": "2025-07-24", "days": 15, "trainees": 149,
            "class_id": "fk"})).json()
        assert estimate["estimate"]["total_fen"] == 514_050_00
        assert estimate["due_fen"] == 120000 + 80000

        published = await read_topic(kafka_bootstrap, events_topic("funding", topic_prefix),
                                     at_least=4 + 2)
        types = sorted(dict(r.headers)["ce_type"].decode() for r in published)
        assert types.count("songji.funding.PayoutDue.v1") == 3
        assert types.count("songji.funding.PayoutReversed.v1") == 1

    # the auditor: rebuild from the topics and compare with the recorded ledger
    history = await records_from_topics(kafka_bootstrap, topic_prefix, idle_ms=1500,
                                        public_keys=public_keys_in_tests())
    report = await replay(database, history)
    assert report.ok, report.differences
    assert report.derived_lines == report.recorded_lines == report.published_lines == 4
    as_of = await replay(database, history, as_of=revocation.time - timedelta(microseconds=1))
    assert as_of.ok and as_of.derived_lines == 3

    # the same through the auditor's command, as an auditor runs it
    env = {"SONGJI_FUNDING_DATABASE_URL": database, "SONGJI_TOPIC_PREFIX": topic_prefix,
           "SONGJI_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "SONGJI_TOKEN": token("auditor"),
           "SONGJI_STATE_DIR": str(tmp_path), "SONGJI_PUBLIC_KEYS": TEST_PUBLIC_KEYS}
    differences = tmp_path / "diff.csv"
    # The sources here are published straight to the topics, with no stores behind them.
    replay_cmd = ["audit", "replay", "--no-check-stores", "--differences", str(differences)]
    code, out = await songji(*replay_cmd, env=env)
    assert code == 0, out
    assert "4 lines derived" in out and "MATCHES" in out
    code, out = await songji(*replay_cmd, env={**env, "SONGJI_TOKEN": token("hr")})
    assert code == 3 and "refused" in out
    code, out = await songji(*replay_cmd, "--as-of", "2025-08-01", env=env)
    assert code == 2 and "offset" in out

    assert (await verify_stores({"funding": database}))["funding"].ok
    conn = await asyncpg.connect(database)
    try:
        await conn.execute(
            """UPDATE events SET data = jsonb_set(data, '{amount_fen}', '999999')
               WHERE position = (SELECT min(position) FROM events
                                 WHERE event_type = 'songji.funding.PayoutDue.v1')""")
        edited = await conn.fetchval("SELECT min(position) FROM events "
                                     "WHERE event_type = 'songji.funding.PayoutDue.v1'")
    finally:
        await conn.close()
    result = (await verify_stores({"funding": database}))["funding"]
    assert not result.ok and result.first_bad_position == edited
    tampered = await replay(database, history)
    assert not tampered.ok
    assert {d.where for d in tampered.differences} == {"published_events"}
    code, out = await songji(*replay_cmd, env=env)
    assert code == 1, out
    assert "DIFFERENCES" in out
    assert "999999" in differences.read_text()  # the tampered amount, named in the file
