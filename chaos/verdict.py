"""The checks after recovery: the chaos run against the clean run of the same load, and
against itself. Every difference counts as lost or as a duplicated effect."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from chaos.malformed import DeadLetterCheck, consumers
from chaos.snapshot import Snapshot


@dataclass
class Verdict:
    lost: Counter = field(default_factory=Counter)  # what -> how many
    duplicated: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ledger_lines: int = 0
    ledger_equal: bool = False
    disbursement: dict[str, int] = field(default_factory=dict)  # kind -> events, chaos run
    disbursement_equal: bool = False

    def add(self, bucket: Counter, what: str, n: int, example: str = "") -> None:
        if n:
            bucket[what] += n
            if example and len(self.examples) < 20:
                self.examples.append(f"{what}: {example}")

    @property
    def ok(self) -> bool:
        return not sum(self.lost.values()) and not sum(self.duplicated.values())


def judge(clean: Snapshot, chaos: Snapshot, dead: DeadLetterCheck | None) -> Verdict:
    v = Verdict(ledger_lines=len(chaos.ledger))
    _ledger(v, clean, chaos)
    _events(v, clean, chaos)
    _inboxes(v, chaos)
    _payments(v, chaos)
    _disbursement(v, clean, chaos)
    _notifications(v, clean, chaos)
    if dead is not None:
        v.add(v.lost, "malformed messages not dead-lettered", len(dead.missing),
              ", ".join(dead.missing[:3]))
        v.add(v.lost, "dead letters without a reason", len(dead.without_reason),
              ", ".join(dead.without_reason[:3]))
        v.add(v.lost, "valid events dead-lettered", len(dead.valid_dead_lettered),
              "; ".join(dead.valid_dead_lettered[:3]))
    return v


def _ledger(v: Verdict, clean: Snapshot, chaos: Snapshot) -> None:
    missing = sorted(set(clean.ledger) - set(chaos.ledger))
    extra = sorted(set(chaos.ledger) - set(clean.ledger))
    differ = sorted(k for k in set(clean.ledger) & set(chaos.ledger)
                    if clean.ledger[k] != chaos.ledger[k])
    v.add(v.lost, "ledger lines missing", len(missing), ", ".join(missing[:3]))
    v.add(v.duplicated, "ledger lines extra", len(extra), ", ".join(extra[:3]))
    v.add(v.duplicated, "ledger rows twice", chaos.ledger_rows - len(chaos.ledger))
    v.add(v.lost, "ledger lines that differ", len(differ),
          "; ".join(f"{k}: {_diff(clean.ledger[k], chaos.ledger[k])}" for k in differ[:2]))
    v.add(v.lost, "ledger line ids not derived from their key", len(chaos.line_id_errors))
    v.ledger_equal = not (missing or extra or differ or chaos.line_id_errors)


def _diff(a: dict, b: dict) -> str:
    return ", ".join(f"{k}: {a.get(k)!r} != {b.get(k)!r}" for k in sorted(set(a) | set(b))
                     if a.get(k) != b.get(k))[:400]


def _events(v: Verdict, clean: Snapshot, chaos: Snapshot) -> None:
    """Every service's store holds the same events as in the clean run (normalised): an extra
    one is a command that took effect twice, a missing one a command or reaction lost."""
    missing = clean.events - chaos.events
    extra = chaos.events - clean.events
    v.add(v.lost, "events missing from the stores", sum(missing.values()),
          next(iter(missing), "")[:300])
    v.add(v.duplicated, "events extra in the stores", sum(extra.values()),
          next(iter(extra), "")[:300])


def _inboxes(v: Verdict, chaos: Snapshot) -> None:
    """Every event a consumer handles, from every topic it reads, was applied by it."""
    for consumer in consumers():
        applied = chaos.inbox.get(consumer.name, set())
        wanted = [(service, eid) for service in consumer.services
                  for eid, etype in chaos.event_ids[service] if etype in consumer.handles]
        not_applied = [f"{s}:{e}" for s, e in wanted if e not in applied]
        v.add(v.lost, f"events not applied by {consumer.name}", len(not_applied),
              ", ".join(not_applied[:3]))


def _payments(v: Verdict, chaos: Snapshot) -> None:
    twice = {k: n for k, n in chaos.instruction_items.items() if n > 1}
    v.add(v.duplicated, "ledger lines in a payment instruction twice", len(twice),
          ", ".join(list(twice)[:3]))
    confirmed = {k: n for k, n in chaos.confirmations.items() if n > 1}
    v.add(v.duplicated, "payments confirmed twice", len(confirmed))


# Funding's money events by kind: what the HR bureau's commands decided, from the policy to
# the payment. The faults on these commands (answers lost, funding killed mid-request) must
# leave exactly the clean run's.
DISBURSEMENT = {"policies": "FundingPolicyPublished", "budget allocations": "BudgetAllocated",
                "batches": "DisbursementApproved", "public notices": "PublicNoticeStarted",
                "objections": "ObjectionRaised", "objection resolutions": "ObjectionResolved",
                "payment instructions": "PaymentInstructionIssued",
                "payments": "PaymentConfirmed"}


def _disbursement(v: Verdict, clean: Snapshot, chaos: Snapshot) -> None:
    """Per kind, the same events as the clean run; and the same answers to the HR bureau's
    commands (a replayed answer included), the bank file row for row."""
    equal = True
    for kind, name in DISBURSEMENT.items():
        def of_kind(s: Snapshot, name: str = name) -> Counter:
            return Counter({e: n for e, n in s.events.items()
                            if e.startswith(f"songji.funding.{name}.v")})
        missing, extra = of_kind(clean) - of_kind(chaos), of_kind(chaos) - of_kind(clean)
        v.disbursement[kind] = sum(of_kind(chaos).values())
        v.add(v.lost, f"disbursement: {kind} missing or different", sum(missing.values()),
              next(iter(missing), "")[:300])
        v.add(v.duplicated, f"disbursement: {kind} extra", sum(extra.values()),
              next(iter(extra), "")[:300])
        equal = equal and not missing and not extra
    for path in sorted(set(clean.answers) | set(chaos.answers)):
        if path not in chaos.answers:
            v.add(v.lost, "disbursement: answers not received", 1, path)
        elif path not in clean.answers:
            v.add(v.duplicated, "disbursement: commands not in the clean run", 1, path)
        elif clean.answers[path] != chaos.answers[path]:
            v.add(v.lost, "disbursement: answers that differ from the clean run's", 1,
                  f"{path}: {_diff(clean.answers[path], chaos.answers[path])}")
        else:
            continue
        equal = False
    v.disbursement_equal = equal


def _notifications(v: Verdict, clean: Snapshot, chaos: Snapshot) -> None:
    per_key = Counter((n["source_event_id"], n["raw_recipient"], n["kind"], n["raw_ref"])
                      for n in chaos.notifications)
    v.add(v.duplicated, "notices twice per (event, recipient, kind)",
          sum(n - 1 for n in per_key.values() if n > 1))
    v.add(v.duplicated, "notices delivered twice (delivery log)",
          sum(n - 1 for n in chaos.delivered_attempts.values() if n > 1))
    v.add(v.duplicated, "notices recorded delivered twice (events)",
          sum(n - 1 for n in chaos.delivered_events.values() if n > 1))

    def sent(s: Snapshot) -> Counter:
        return Counter((n["kind"], n["recipient"], n["ref"]) for n in s.notifications
                       if n["state"] == "sent")

    missing, extra = sent(clean) - sent(chaos), sent(chaos) - sent(clean)
    v.add(v.lost, "notices not sent (vs the clean run)", sum(missing.values()),
          str(next(iter(missing), "")))
    v.add(v.duplicated, "notices sent in excess (vs the clean run)", sum(extra.values()),
          str(next(iter(extra), "")))
    resent = sum(n - 1 for n in chaos.channel_messages.values() if n > 1)
    if resent:
        v.notes.append(f"{resent} message(s) written twice by the local channel: a sender "
                       "killed between handing a message to the channel and recording it "
                       "sends it again when the claim times out (at least once at the channel, "
                       "services/notifications/sender.py); the delivery log has one delivery")
