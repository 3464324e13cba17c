"""The table printed at the end of a chaos run, and the same as JSON."""

from __future__ import annotations

from collections import Counter
from typing import Any

from chaos.faults import (
    BROKER,
    CONSUMER_COPY,
    KILL,
    KILLED_MID_REQUEST,
    LOST_ANSWER,
    MALFORMED,
    OUTAGE,
    RELAY_HOLDER,
    REPLAY,
)
from chaos.malformed import DeadLetterCheck
from chaos.snapshot import Snapshot
from chaos.verdict import Verdict


def table(counts: Counter, chaos: Snapshot, verdict: Verdict, dead: DeadLetterCheck,
          lost_answers: int, taken_as_done: dict[str, int], replayed: int,
          failovers: list[tuple[str, float]] | None = None) -> str:
    failovers = failovers or []
    replica_rows: list[tuple[str, str]] = [
        (f"  {RELAY_HOLDER}", str(counts[RELAY_HOLDER])),
        (f"  {CONSUMER_COPY}", str(counts[CONSUMER_COPY])),
        ("  relay failover (kill -9 to another copy running it)",
         (f"max {max(s for _, s in failovers):.2f}s: " if failovers else "none measured")
         + ", ".join(f"{n} {s:.2f}s" for n, s in failovers)),
    ] if counts[RELAY_HOLDER] or counts[CONSUMER_COPY] else []
    rows: list[tuple[str, str]] = [
        ("faults injected", ""),
        (f"  {KILL}", str(counts[KILL])),
        (f"  {BROKER}", str(counts[BROKER])),
        (f"  {REPLAY}", f"{counts[REPLAY]} rounds, {counts['records re-produced']} records"),
        (f"  {MALFORMED}s", str(counts[MALFORMED])),
        (f"  {OUTAGE}", f"{counts[OUTAGE]} ({counts['outage seconds']}s each; "
                        f"{counts['records delivered again during outages']} records "
                        "delivered again to their consumers meanwhile)"),
        *replica_rows,
        ("  funding commands: " + LOST_ANSWER, str(counts[LOST_ANSWER])),
        ("  funding commands: " + KILLED_MID_REQUEST, str(counts[KILLED_MID_REQUEST])),
        ("  requests whose answer was lost", f"{lost_answers} (answers replayed from their "
                                             f"Idempotency-Key: {replayed}; conflicts taken "
                                             f"as done: {sum(taken_as_done.values())})"),
        ("events", f"{chaos.events_total} in the stores "
                   + ", ".join(f"{s} {n}" for s, n in chaos.events_by_service.items())),
        ("ledger", f"{verdict.ledger_lines} lines, "
                   + ("equal line for line to the clean run" if verdict.ledger_equal
                      else "DIFFERS from the clean run")),
        ("disbursement", ", ".join(f"{k} {n}" for k, n in verdict.disbursement.items())
         + (": events and answers equal to the clean run's" if verdict.disbursement_equal
            else ": DIFFERS from the clean run")),
        ("dead letters", f"{dead.found}/{dead.expected} (message, consumer) pairs, "
                         "each with its reason; valid events dead-lettered: "
                         f"{len(dead.valid_dead_lettered)}"),
        ("lost", str(sum(verdict.lost.values()))),
        *((f"  {k}", str(n)) for k, n in sorted(verdict.lost.items())),
        ("duplicated effects", str(sum(verdict.duplicated.values()))),
        *((f"  {k}", str(n)) for k, n in sorted(verdict.duplicated.items())),
    ]
    width = max(len(k) for k, _ in rows) + 2
    lines = [f"{k:<{width}}{v}" for k, v in rows]
    if dead.reasons:
        lines.append("dead-letter reasons seen, by kind of malformed message:")
        lines += [f"  {kind:<24}{reason}" for kind, reason in sorted(dead.reasons.items())]
    lines += [f"note: {n}" for n in verdict.notes]
    if verdict.examples:
        lines.append("differences (first few):")
        lines += [f"  {e}" for e in verdict.examples]
    return "\n".join(lines)


def as_json(counts: Counter, chaos: Snapshot, verdict: Verdict, dead: DeadLetterCheck,
            seconds: float, workers: int, seed: int,
            failovers: list[tuple[str, float]] | None = None) -> dict[str, Any]:
    return {"workers": workers, "seed": seed, "seconds": round(seconds, 1),
            "relay_failover_seconds": [{"service": n, "seconds": s} for n, s in failovers or ()],
            "faults": dict(counts), "events": chaos.events_total,
            "events_by_service": chaos.events_by_service, "ledger_lines": verdict.ledger_lines,
            "ledger_equal": verdict.ledger_equal,
            "disbursement": verdict.disbursement,
            "disbursement_equal": verdict.disbursement_equal,
            "dead_letters": {"expected": dead.expected, "found": dead.found,
                             "reasons": dead.reasons,
                             "valid_dead_lettered": len(dead.valid_dead_lettered)},
            "lost": sum(verdict.lost.values()), "lost_by_kind": dict(verdict.lost),
            "duplicated": sum(verdict.duplicated.values()),
            "duplicated_by_kind": dict(verdict.duplicated), "notes": verdict.notes,
            "examples": verdict.examples}
