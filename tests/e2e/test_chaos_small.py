"""`make chaos` in a small form, as part of `make test`: 12 workers played on a clean system
and again while every service is killed once, the broker restarts empty, every event is
delivered twice in a shuffled cross-stream order, malformed messages land on every topic and
each service's database is away for a few seconds,
and each of funding's money commands (policy, budget, batch, objection, resolution, bank
file, payment) has its answer lost or funding killed under it, and is retried with its
Idempotency-Key. Nothing may be lost or duplicated, the disbursement must equal the clean
run's, every malformed message must be dead-lettered, with its reason, by every consumer
that reads its topic, and no valid event may be dead-lettered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.faults import FUNDING_COMMANDS, KILLED_MID_REQUEST, LOST_ANSWER, OUTAGE
from chaos.malformed import KINDS
from shared.auth.tokens import ENV_INLINE
from shared.eventsourcing.topics import SERVICES

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]


def test_small_chaos_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != ENV_INLINE}
    results = tmp_path / "chaos.json"
    done = subprocess.run([sys.executable, "-m", "chaos", "--quick", "--json", str(results)],
                          capture_output=True, text=True, env=env, timeout=380)
    output = done.stdout + done.stderr
    assert results.exists(), output[-4000:]
    got = json.loads(results.read_text())
    assert got["lost"] == 0, output[-4000:]
    assert got["duplicated"] == 0, output[-4000:]
    assert done.returncode == 0, output[-4000:]
    assert got["ledger_equal"] and got["ledger_lines"] > 0
    faults = got["faults"]
    assert faults["kill -9 and restart a service"] == len(SERVICES)  # each service once
    assert faults["restart the broker empty"] == 1
    assert faults["records re-produced"] > 0
    assert faults["malformed message"] == len(SERVICES) * len(KINDS)
    assert faults[OUTAGE] == len(SERVICES)  # each service's database away once
    assert faults[LOST_ANSWER] >= 1 and faults[KILLED_MID_REQUEST] >= 1
    assert faults[LOST_ANSWER] + faults[KILLED_MID_REQUEST] == len(FUNDING_COMMANDS)
    assert got["disbursement_equal"]
    assert got["disbursement"]["batches"] == got["disbursement"]["payments"] == 1
    dead = got["dead_letters"]
    assert dead["found"] == dead["expected"] > faults["malformed message"]
    assert dead["valid_dead_lettered"] == 0, output[-4000:]
    assert set(dead["reasons"]) == set(KINDS)
    assert "not a CloudEvents 1.0 message" in dead["reasons"]["no_cloudevents_headers"]
    assert "unknown event type" in dead["reasons"]["unknown_event_type"]
    assert "breaks its contract" in dead["reasons"]["data_breaks_contract"]
    assert "Nothing lost, nothing duplicated." in output
