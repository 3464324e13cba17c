"""``python -m bench --quick`` runs end to end and reports every figure (not how fast: CI
machines are too noisy for timings to mean anything here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.auth.tokens import ENV_FILE, ENV_INLINE

pytestmark = pytest.mark.integration
pytest.importorskip("eventsourcing", reason="needs the bench extra: pip install -e '.[bench]'")
pytest.importorskip("matplotlib", reason="needs the bench extra: pip install -e '.[bench]'")

FIGURES = {
    "appends_single_vs_eventsourcing", "appends_single_vs_raw",
    "appends_batch100_vs_eventsourcing", "appends_batch100_vs_raw",
    "appends_single_row_alone_vs_raw", "appends_batch100_row_alone_vs_raw",
    "relay_vs_raw_producer",
    "replay_vs_raw_consumer", "replay_seconds", "replay_memory_growth",
    "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_lines_seen",
    "appends_single_vs_message_db", "appends_batch100_vs_message_db",
    "burst_refused", "burst_p50_ms", "burst_p99_ms", "burst_ceiling_p99_ms",
    "burst_register_ms",
    "growth_large_vs_small",
    "throughput_vs_ceiling", "throughput_refused",
    "province_ledger_by_class_p99", "province_ledger_by_worker_p99", "province_budget_p99",
    "province_line_p99", "province_policy_seconds", "province_policy_answered_ms",
    "province_reads_during_job_p99", "tracing_off_appends", "tracing_off_hooks_ns",
}


@pytest.mark.timeout(480)
def test_quick_bench_reports_every_figure(postgres_url: str, kafka_bootstrap: str,
                                          tmp_path: Path) -> None:
    # The generated history is what funding's contracts accept (attendance is built as JSON).
    from bench.history import Shape, history
    for _, envelope in history(200, Shape(trainees=3, sessions=2)):
        envelope.event()

    env = {k: v for k, v in os.environ.items() if k not in (ENV_INLINE, ENV_FILE)}
    env |= {"POSTGRES_URL": postgres_url, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    run = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path),
                          # every figure, on provinces small enough for a test's minutes
                          "--province-trainees", "200,1000"],
                         env=env, capture_output=True, text=True, timeout=460, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "done in" in run.stdout

    results = json.loads((tmp_path / "latest.json").read_text())
    figures = {f["key"]: f for f in results["figures"]}
    assert set(figures) == FIGURES
    informational = {"appends_single_row_alone_vs_raw", "appends_batch100_row_alone_vs_raw",
                     "latency_p50_ms", "latency_p95_ms", "burst_p50_ms", "burst_ceiling_p99_ms",
                     "burst_register_ms",
                     "throughput_refused",
                     "province_policy_seconds", "province_policy_answered_ms",
                     "tracing_off_hooks_ns"}
    for key, f in figures.items():
        assert f["value"] is not None and f["target"]
        assert f["result"] == "—" if key in informational else f["result"] in ("PASS", "MISS")
    assert figures["latency_lines_seen"]["value"] == results["details"]["latency"][
        "certifications"] > 0
    details = results["details"]
    # Every check-in of the burst was answered, and what was accepted is what was stored.
    burst = details["burst"]
    assert burst["sent"] == figures["burst_refused"]["baseline"] > 0
    assert burst["accepted"] + figures["burst_refused"]["value"] == burst["sent"]
    assert burst["stored_events"] == burst["accepted"]
    # The session register of as many trainees recorded every line.
    assert burst["register_recorded"] == burst["sent"]
    # The two classes compared hold the histories they were given, however they are stored.
    growth = details["growth"]
    assert growth["small"]["accepted"] == growth["large"]["accepted"] > 0
    assert growth["large_class_events"] > growth["small_class_events"] >= 100
    assert all(r["ceiling"]["accepted"] == r["ceiling"]["sent"] > 0
               for r in details["throughput"]["rounds"])
    # Both provinces were written whole, and the policy version added an adjustment line for
    # each certificate.
    province = details["province"]
    assert [p["trainees"] for p in province.values()] == [200, 1000]
    for p in province.values():
        assert p["lines"] == p["trainees"] * 18 // 10
        assert p["policy_lines"] == p["trainees"] * 8 // 10
        assert all(r["requests"] == 200 and not r["failed"] for r in p["reads"].values())
    # Each service's own view of its quiet reads and of its job: its loop watched the whole
    # time, and every worker ledger read of the quiet rounds (and their warm-ups) seen.
    for p in province.values():
        assert p["service_quiet"]["ledger_request_in_app"]["observed"] >= 200
        assert p["service_during_job"]["ledger_request_in_app"]["observed"] >= \
            p["reads_during_job"]["requests"] > 0
        for phase in ("service_quiet", "service_during_job"):
            lag = p[phase]["event_loop_lag"]
            assert lag["observed"] > 0 and 0 <= lag["over_10_ms"] <= lag["over_5_ms"] <= 1
    table = (tmp_path / "latest.md").read_text()
    assert table.count("| 1 store appends |") == 6 and "| 4 latency |" in table
    assert table.count("| 5 Message DB appends |") == 2 and "| 8 command throughput |" in table
    assert (tmp_path / "latency.png").stat().st_size > 1000
