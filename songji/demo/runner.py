"""Play the Fukang class against running services, print the summary and the auditor's
verdict. Used by ``songji demo`` (services already up) and ``songji run`` (starts them)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TextIO

from songji.demo import scenario as sc
from songji.demo.client import DemoError, Departments
from songji.demo.progress import Progress
from songji.demo.steps import STEPS, play
from songji.demo.summary import Audit, collect, render

SOURCE_SERVICES = ("enrolment", "training", "assessment")


async def audit(dsns: Mapping[str, str] | None) -> Audit:
    """The auditor rebuilds the funding ledger from the source stores with the same pure
    function, compares it with what funding recorded and published, and checks every
    store's hash chain."""
    from shared.audit.verify import verify_stores
    from songji.audit.funding_replay import records_from_stores, replay

    result = Audit()
    if not dsns or "funding" not in dsns:
        result.replay = "skipped: the stores' locations are unknown (run `songji up` first)"
        return result
    sources = {s: dsns[s] for s in SOURCE_SERVICES if s in dsns}
    report = await replay(dsns["funding"], await records_from_stores(sources))
    result.replay, result.replay_ok = report.summary(), report.ok
    verdicts = await verify_stores(dsns)
    result.chains = [(service, v.checked, "ok" if v.ok else
                      f"BROKEN at position {v.first_bad_position}: {v.reason}")
                     for service, v in verdicts.items()]
    result.chains_ok = all(v.ok for v in verdicts.values())
    return result


async def run_demo(urls: Mapping[str, str], tokens: Mapping[str, str], *, workers: int,
                   seed: int, dsns: Mapping[str, str] | None = None,
                   out: TextIO | None = None, wait_seconds: float = 120.0) -> int:
    """0 when every step succeeded and the auditor's replay matches; 1 otherwise."""
    out = out or sys.stdout
    scenario = sc.build(workers, seed)
    out.write(f"The Fukang class, {sc.FIRST_DAY:%d %B} to {sc.LAST_DAY:%d %B %Y}: "
              f"{workers} workers from Luquan working in Fukang, Xinjiang (seed {seed})\n")
    progress = Progress(STEPS + 1, out)
    async with Departments(urls, tokens, wait_seconds=wait_seconds) as api:
        try:
            run = await play(api, scenario, progress)
            totals = await collect(api, run)
        except DemoError as exc:
            out.write(f"\nFAILED: {exc}\n")
            return 1
    progress.step("Auditor replays the funding ledger from the history and verifies the "
                  "hash chains")
    verdict = await audit(dsns)
    progress.done("MATCHES" if verdict.replay_ok else
                  "skipped" if verdict.replay_ok is None else "DIFFERS")
    out.write(render(totals, run, verdict) + "\n")
    out.write(f"\n{api.calls} API calls in {progress.elapsed:.1f}s. "
              + ("Demo succeeded.\n" if verdict.ok else "The audit FAILED.\n"))
    return 0 if verdict.ok else 1
