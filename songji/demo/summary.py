"""What the demo prints at the end, read back from the services (as the HR bureau, the
assessment body and the auditor would read it), never from the demo's own plan.

Workers appear by the first characters of their pseudonymous id only: no name, ID number or
phone is ever printed. With many classes, a few are shown one by one and each course in total.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from songji.demo.client import Departments, each
from songji.demo.steps import BODY, CLASSES_AT_ONCE, HR, SHOWN_CLASSES, Run, class_lines

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
    referrals: list[dict[str, Any]] = field(default_factory=list)  # the run's vacancies'
    outcomes: list[dict[str, Any]] = field(default_factory=list)  # by occupation


async def collect(api: Departments, run: Run) -> Totals:
    classes = []
    for class_id, plan in run.scenario.classes.items():
        completion = run.completions[class_id]
        trainees = completion["trainees"]
        met = sum(1 for t in trainees if t["met_threshold"])
        classes.append({"class_id": class_id, "course": plan.course,
                        "occupation": plan.occupation_code, "level": plan.level,
                        "mode": plan.mode, "sessions": len(plan.sessions),
                        "trainees": len(trainees), "met": met,
                        "threshold": completion["threshold_percent"]})

    async def results(class_id: str) -> tuple[str, dict[str, Any]]:
        assessment_id = run.assessments[class_id]
        return class_id, await api.get(BODY, "assessment",
                                       f"/assessments/{assessment_id}/results")

    # (occupation, level) -> [certified, assessed], over every class of the course
    certified: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for class_id, answer in await each(CLASSES_AT_ONCE, run.assessments, results):
        plan = run.scenario.classes[class_id]
        live = [r for r in answer.get("results", []) if not r.get("voided_reason")]
        certs = [c for c in answer.get("certificates", []) if not c.get("revoked_on")]
        certified[(plan.occupation_code, plan.level)][1] += len(live)
        for cert in certs:
            certified[(plan.occupation_code, cert.get("level", plan.level))][0] += 1
    referrals = [r for vacancy_id in run.vacancies
                 for r in await api.get(HR, "employment", f"/vacancies/{vacancy_id}/referrals")]
    return Totals(classes=classes, certified={k: (v[0], v[1]) for k, v in certified.items()},
                  lines=await class_lines(api, run),
                  notifications=await api.get(HR, "notifications", "/notifications/summary"),
                  budget=await api.get(HR, "funding", "/budget"), referrals=referrals,
                  outcomes=await api.get(HR, "employment", "/statistics/outcomes",
                                         params={"by": "occupation"}))


def render(totals: Totals, run: Run, audit: Audit) -> str:
    out: list[str] = ["", "Trainees per class"]
    out += _classes(totals.classes)

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
    files = (f"bank file SHA-256 {run.instruction_sha256[:16]}..."
             if len(run.batch_ids) <= 1 else
             f"{len(run.batch_ids)} batches and bank files, the first's SHA-256 "
             f"{run.instruction_sha256[:16]}...")
    out.append(f"  public notice {run.notice.get('first_day')}..{run.notice.get('last_day')}; "
               f"{files}")

    out += ["", "Notifications sent per kind"]
    by_kind: dict[str, dict[str, int]] = defaultdict(dict)
    for row in totals.notifications:
        by_kind[row["kind"]][row["state"]] = row["count"]
    for kind, states in sorted(by_kind.items()):
        others = ", ".join(f"{n} {s}" for s, n in sorted(states.items()) if s != "sent")
        out.append(f"  {kind:<28} {states.get('sent', 0):>5} sent" +
                   (f"  ({others})" if others else ""))
    out.append(f"  total: {sum(s.get('sent', 0) for s in by_kind.values())} sent")

    out += ["", "After the certificate (推荐就业): the funnel"]
    out += _funnel(totals)

    out += ["", "Auditor"]
    out.append(f"  replay of the funding ledger: {audit.replay}")
    for service, events, verdict in audit.chains:
        out.append(f"  hash chain {service:<14} {events:>7} events  {verdict}")
    return "\n".join(out)


def _classes(classes: list[dict[str, Any]]) -> list[str]:
    """Every class when there are few, else the first few; then each course that has several
    classes in total, and the total."""
    def line(name: str, c: dict[str, Any]) -> str:
        return (f"  {name:<20} {c['occupation']} level {c['level']}, {c['mode']} "
                f"class{'es' if c.get('classes', 1) > 1 else ''}, {c['sessions']} sessions: "
                f"{c['trainees']} trainees, {c['met']} met the {c['threshold']}% attendance "
                f"threshold, {c['trainees'] - c['met']} below")

    shown = classes if len(classes) <= SHOWN_CLASSES else classes[:SHOWN_CLASSES // 2]
    out = [line(c["class_id"], c) for c in shown]
    if len(shown) < len(classes):
        out.append(f"  ... and {len(classes) - len(shown)} more classes; by course:")
    by_course: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in classes:
        by_course[c["course"]].append(c)
    for mine in by_course.values():
        if len(mine) > 1:
            out.append(line(f"{len(mine)} classes", {
                **mine[0], "classes": len(mine), "trainees": sum(c["trainees"] for c in mine),
                "met": sum(c["met"] for c in mine)}))
    trainees = sum(c["trainees"] for c in classes)
    out.append(f"  total: {trainees} trainees" +
               (f" in {len(classes)} classes" if len(classes) > 2 else ""))
    return out


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


def _funnel(totals: Totals) -> list[str]:
    """Trained, certified, referred, placed and still employed at the 3-month follow-up, from
    the classes, the certificates and the run's referrals; then employment's outcomes."""
    trained = sum(c["trainees"] for c in totals.classes)
    certified = sum(passed for passed, _ in totals.certified.values())
    referred = len({r["worker_id"] for r in totals.referrals})
    placed = [r for r in totals.referrals if r["status"] in ("placed", "left")]
    still = sum(1 for r in placed if r["status"] == "placed")
    out = [f"  trained {trained} -> certified {certified} -> referred {referred} -> placed "
           f"{len(placed)} -> still employed at 3 months {still}"]
    for group in totals.outcomes:
        if group["suppressed"]:
            out.append(f"  {group['group']}: fewer workers than the smallest group shown")
            continue
        wage = group["median_wage_after_fen"]
        out.append(
            f"  {group['group']}: {group['placed']} placed of {group['referred']} referred "
            f"({group['placement_rate_percent']}%), median wage before "
            f"{group['median_wage_band_before']} yuan, after "
            f"{yuan(wage) if wage is not None else '-'} yuan a month; retention at 3 months "
            f"{group['retention_3_months_percent']}%")
    return out
