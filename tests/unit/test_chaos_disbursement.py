"""The chaos run's faults on funding's commands and the verdict on the disbursement: a
command that took effect twice, or an answer that differs from the clean run's, fails it."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from chaos.faults import (
    FUNDING_COMMANDS,
    KILLED_MID_REQUEST,
    LOST_ANSWER,
    RequestFaults,
    plan_requests,
)
from chaos.snapshot import Snapshot
from chaos.verdict import judge
from shared.eventsourcing.topics import SERVICES

POLICY = 'songji.funding.FundingPolicyPublished.v1 {"policy_id": "luquan-2025", "version": 1}'
BATCH = 'songji.funding.DisbursementApproved.v1 {"batch_id": "b1"}'
PAID = 'songji.funding.PaymentConfirmed.v1 {"instruction_id": "p1"}'


def snapshot(events: list[str], answers: dict[str, Any]) -> Snapshot:
    return Snapshot(ledger={}, ledger_rows=0, line_id_errors=[], events=Counter(events),
                    events_total=len(events), events_by_service={},
                    event_ids={s: [] for s in SERVICES}, inbox={}, notifications=[],
                    delivered_attempts=Counter(),
                    delivered_events=Counter(), channel_messages=Counter(),
                    instruction_items=Counter(), confirmations=Counter(), answers=answers)


ANSWERS = {"/batches": {"status": 201, "body": [{"batch_id": "b1"}]},
           "/batches/b1/instructions": {"status": 200, "rows": [{"payee_id": "W1"}],
                                        "sha256 is the file's": True,
                                        "sha256 is the one recorded": True}}


def test_the_same_disbursement_passes() -> None:
    clean = snapshot([POLICY, BATCH, PAID], ANSWERS)
    verdict = judge(clean, snapshot([POLICY, BATCH, PAID], dict(ANSWERS)), None)
    assert verdict.ok and verdict.disbursement_equal
    assert verdict.disbursement["policies"] == verdict.disbursement["payments"] == 1


def test_a_policy_published_twice_is_a_duplicate() -> None:
    clean = snapshot([POLICY, BATCH, PAID], ANSWERS)
    twice = POLICY.replace('"version": 1', '"version": 2')
    verdict = judge(clean, snapshot([POLICY, twice, BATCH, PAID], ANSWERS), None)
    assert verdict.duplicated["disbursement: policies extra"] == 1
    assert not verdict.ok and not verdict.disbursement_equal


def test_a_bank_file_that_differs_or_does_not_match_its_checksum_is_lost() -> None:
    clean = snapshot([POLICY, BATCH, PAID], ANSWERS)
    bad = {**ANSWERS, "/batches/b1/instructions": {
        **ANSWERS["/batches/b1/instructions"], "sha256 is the file's": False}}
    verdict = judge(clean, snapshot([POLICY, BATCH, PAID], bad), None)
    assert verdict.lost["disbursement: answers that differ from the clean run's"] == 1
    missing = {k: v for k, v in ANSWERS.items() if k != "/batches"}
    verdict = judge(clean, snapshot([POLICY, BATCH], missing), None)
    assert verdict.lost["disbursement: payments missing or different"] == 1
    assert verdict.lost["disbursement: answers not received"] == 1


def test_every_funding_command_gets_one_fault_and_both_kinds_happen() -> None:
    for seed in range(20):
        plan = plan_requests(random.Random(seed))
        assert set(plan) == set(FUNDING_COMMANDS)
        assert Counter(plan.values()) == {LOST_ANSWER: 4, KILLED_MID_REQUEST: 3}
        quick = plan_requests(random.Random(seed), kills=1)
        assert Counter(quick.values()) == {LOST_ANSWER: 6, KILLED_MID_REQUEST: 1}


def test_a_fault_hits_the_first_attempt_of_its_command_only() -> None:
    plan = {"batch approval": LOST_ANSWER, "payment instruction": KILLED_MID_REQUEST}
    faults = RequestFaults(system=None, rng=random.Random(1),  # type: ignore[arg-type]
                           counts=Counter(), note=print, planned=dict(plan))
    assert faults.fault_for("GET", "funding", "/batches") is None
    assert faults.fault_for("POST", "training", "/batches") is None
    assert faults.fault_for("POST", "funding", "/batches") == ("batch approval", LOST_ANSWER)
    assert faults.fault_for("POST", "funding", "/batches") is None
    assert faults.fault_for("POST", "funding", "/batches/b1/instructions") == (
        "payment instruction", KILLED_MID_REQUEST)
    assert faults.fault_for("POST", "funding", "/test-clock") is None
