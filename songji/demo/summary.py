"""What the demo prints at the end, read back from the services (as the HR bureau, the
assessment body and the auditor would read it), never from the demo's own plan.

Workers appear by the first characters of their pseudonymous id only: no name, ID number or
phone is ever printed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from songji.demo.client import Departments
from songji.demo.steps import BODY, HR, Run, class_lines

LEVEL_NAMES = {5: "初级工 basic", 4: "中级工 intermediate", 3: "高级工 advanced",
               2: "技师 technician", 1: "高级技师 senior technician"}


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{part:02d}"


@dataclass
class Audit:
    replay: str = "not run"
    replay_ok: bool | None = None
    chains: list[tuple[str, int, str]] = field(default_factory=list)  # service, events, verdict
    chains_ok: bool | None = None

    @property
    def ok(self) -> bool:
        return self.replay_ok is not False and self.chains_ok is not False


@dataclass
class Totals:
    classes: list[dict[str, Any]]
    certified: dict[tuple[str, int], tuple[int, int]]  # (occupation, level) -> (passed, assessed)
    lines: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    budget: list[dict[str, Any]]


async def collect(api: Departments, run: Run) -> Totals:
    classes = []
    for key, plan in run.scenario.classes.items():
        completion = run.completions[key]
        trainees = completion["trainees"]
        met = sum(1 for t in trainees if t["met_threshold"])
        classes.append({"class_id": plan.class_id, "occupation": plan.occupation_code,
                        "level": plan.level, "mode": plan.mode,
                        "sessions": len(plan.sessions), "trainees": len(trainees), "met": met,
                        "threshold": completion["threshold_percent"]})
    certified: dict[tuple[str, int], tuple[int, int]] = {}
    for key, assessment_id in run.assessments.items():
        plan = run.scenario.classes[key]
        results = await api.get(BODY, "assessment", f"/assessments/{assessment_id}/results")
        live = [r for r in results.get("results", []) if not r.get("voided_reason")]
        certs = [c for c in results.get("certificates", []) if not c.get("revoked_on")]
        by_level: dict[int, int] = defaultdict(int)
        for cert in certs:
            by_level[cert.get("level", plan.level)] += 1
        for level, count in by_level.items():
            certified[(plan.occupation_code, level)] = (count, len(live))
        if not by_level:
            certified[(plan.occupation_code, plan.level)] = (0, len(live))
    return Totals(classes=classes, certified=certified, lines=await class_lines(api, run),
                  notifications=await api.get(HR, "notifications", "/notifications/summary"),
                  budget=await api.get(HR, "funding", "/budget"))


def render(totals: Totals, run: Run, audit: Audit) -> str:
    out: list[str] = ["", "Trainees per class"]
    for c in totals.classes:
        out.append(f"  {c['class_id']:<20} {c['occupation']} level {c['level']}, {c['mode']} "
                   f"class, {c['sessions']} sessions: {c['trainees']} trainees, {c['met']} met "
                   f"the {c['threshold']}% attendance threshold, {c['trainees'] - c['met']} "
                   f"below")
    out.append(f"  total: {sum(c['trainees'] for c in totals.classes)} trainees")

    out += ["", "Certified by level (independent body, pass mark 60 theory and practical)"]
    for (occupation, level), (passed, assessed) in sorted(totals.certified.items()):
        out.append(f"  {occupation} level {level} ({LEVEL_NAMES.get(level, '')}): {passed} "
                   f"certified of {assessed} assessed, {assessed - passed} failed")

    out += ["", "Subsidy due and paid per payee (yuan)"]
    out += _payees(totals.lines, run)
    for fund in totals.budget:
        out.append(f"  fund {fund['fund']}: allocated {yuan(fund['allocated_fen'])}, "
                   f"committed {yuan(fund['committed_fen'])}, paid {yuan(fund['paid_fen'])}, "
                   + (f"recovered {yuan(fund['recovered_fen'])}, "
                      if fund.get("recovered_fen") else "")
                   + f"available {yuan(fund['available_fen'])}")
    out.append(f"  public notice {run.notice.get('first_day')}..{run.notice.get('last_day')}; "
               f"bank file SHA-256 {run.instruction_sha256[:16]}...")

    out += ["", "Notifications sent per kind"]
    by_kind: dict[str, dict[str, int]] = defaultdict(dict)
    for row in totals.notifications:
        by_kind[row["kind"]][row["state"]] = row["count"]
    for kind, states in sorted(by_kind.items()):
        others = ", ".join(f"{n} {s}" for s, n in sorted(states.items()) if s != "sent")
        out.append(f"  {kind:<28} {states.get('sent', 0):>5} sent" +
                   (f"  ({others})" if others else ""))
    out.append(f"  total: {sum(s.get('sent', 0) for s in by_kind.values())} sent")

    out += ["", "Auditor"]
    out.append(f"  replay of the funding ledger: {audit.replay}")
    for service, events, verdict in audit.chains:
        out.append(f"  hash chain {service:<14} {events:>7} events  {verdict}")
    return "\n".join(out)


def _payees(lines: list[dict[str, Any]], run: Run) -> list[str]:
    out = []
    institutions = sorted({x["payee_id"] for x in lines if x["payee_kind"] == "institution"})
    for payee in institutions:
        mine = [x for x in lines if x["payee_id"] == payee]
        out.append(f"  {'institution ' + payee:<24} training subsidy  {len(mine):>4} lines  "
                   f"due {yuan(_due(mine)):>13}  paid {yuan(_paid(mine)):>13}")
    workers = [x for x in lines if x["payee_kind"] == "worker"]
    count = len({x["payee_id"] for x in workers})
    out.append(f"  {f'workers ({count})':<24} living subsidy    {len(workers):>4} lines  "
               f"due {yuan(_due(workers)):>13}  paid {yuan(_paid(workers)):>13}")
    why = {run.withheld_line: "withheld: objection upheld in the public notice",
           run.failed_line: "not paid: the bank rejected the transfer"}
    shown = sorted(workers, key=lambda x: (x["line_id"] not in why, x["payee_id"]))[:4]
    for x in shown:
        reason = why.get(x["line_id"], x["status"])
        if x["line_id"] == run.failed_line:  # due again, for a new batch to pay once
            reason += f" (now {x['status']})"
        out.append(f"    worker {x['payee_id'][:8]}  {yuan(x['amount_fen']):>9}  {reason}")
    not_paid = [x for x in lines if x["status"] != "paid"]
    out.append(f"  not paid: {len(not_paid)} line(s), {yuan(_due(not_paid))}")
    return out


def _due(lines: list[dict[str, Any]]) -> int:
    return sum(x["amount_fen"] for x in lines)


def _paid(lines: list[dict[str, Any]]) -> int:
    return sum(x["amount_fen"] for x in lines if x["status"] == "paid")
