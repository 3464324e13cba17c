"""The programme, step by step, through the public APIs, each step by the department whose
job it is (DOMAIN.md): the HR bureau, the Fukang liaison station, the institution, the
independent assessment body, the trade union. What each step learns goes into ``Run``.

Every step works for any number of classes: requests about workers run ``WORKER_CALLS`` at a
time, classes ``CLASSES_AT_ONCE`` at a time (each class's sessions in order), so a county's
intake of 20,000 workers keeps the services busy without flooding them; the long steps count
their progress."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import zip_longest
from typing import Any, TypeVar

from shared.calendar import programme_today
from shared.contracts.bounds import MAX_BATCH_LINES, MAX_CLASS_SIZE
from shared.contracts.employment import MAX_HEADCOUNT
from shared.runtime.paging import MAX_PAGE_SIZE, every_page
from songji.demo import scenario as sc
from songji.demo.client import DemoError, Departments, each
from songji.demo.progress import Progress

HR, STATION, INSTITUTION, BODY, UNION = ("hr-bureau", "station-fukang", "institution-1",
                                         "body-1", "union")
INSTITUTION_ID, BODY_ID = "inst-1", "body-1"
FUND = "municipal-special-2025"
STEPS = 11
WORKER_CALLS = 16  # requests about single workers in flight at once
CLASSES_AT_ONCE = 8  # classes worked on at once (a class's own requests go in order)
SHOWN_CLASSES = 6  # a step names its classes one by one up to this many, else counts them
SLOW_READING = 25  # events a second: slower than any consumer was seen to read the bus

T = TypeVar("T")


@dataclass
class Run:
    scenario: sc.Scenario
    worker_ids: dict[int, str] = field(default_factory=dict)  # scenario index -> worker id
    completions: dict[str, dict[str, Any]] = field(default_factory=dict)  # class id -> body
    assessments: dict[str, str] = field(default_factory=dict)  # class id -> assessment id
    recusal: str = ""
    batch_ids: list[str] = field(default_factory=list)
    notice: dict[str, Any] = field(default_factory=dict)  # the first batch's public notice
    withheld_line: str = ""
    failed_line: str = ""
    instruction_sha256: str = ""  # the first bank file's
    # vacancy id -> the certified workers it was posted for (a vacancy's headcount is at
    # most MAX_HEADCOUNT, so a county's intake of one occupation fills several)
    vacancies: dict[str, list[str]] = field(default_factory=dict)
    certified_workers: dict[str, list[str]] = field(default_factory=dict)  # occupation -> ids

    def index_of(self, worker_id: str) -> int:
        return next(i for i, w in self.worker_ids.items() if w == worker_id)


_GAP: Any = object()  # what zip_longest puts where a shorter group has run out


def interleaved(groups: Iterable[Sequence[T]]) -> list[T]:
    """The groups' items taken in turn, one from each: requests about one class (or one
    assessment) spread out, so that requests in flight together touch different streams
    rather than racing for the same one."""
    return [item for row in zip_longest(*groups, fillvalue=_GAP) for item in row
            if item is not _GAP]


async def play(api: Departments, scenario: sc.Scenario, progress: Progress) -> Run:
    run = Run(scenario)
    await set_up_programme(api, run, progress)
    await register_and_survey(api, run, progress)
    await schedule_and_approve(api, run, progress)
    await enrol(api, run, progress)
    await record_attendance(api, run, progress)
    await complete_classes(api, run, progress)
    await assess(api, run, progress)
    await wait_for_ledger(api, run, progress)
    await disburse(api, run, progress)
    await wait_for_notifications(api, run, progress)
    await place(api, run, progress)
    return run


# -- 1. the HR bureau sets up the programme ------------------------------------------------

def policy_body() -> dict[str, Any]:
    return {
        "policy_id": "luquan-2025", "effective_from": "2025-01-01",
        "training_subsidies": [{"occupation_code": o, "level": lvl, "amount_fen": fen}
                               for (o, lvl), fen in sc.TRAINING_SUBSIDY_FEN.items()],
        "uplifts": [{"percent": sc.UPLIFT_PERCENT, "province": sc.PROVINCE}],
        "living_subsidy": {"meals_fen_per_day": sc.MEALS_FEN_PER_DAY,
                           "transport_fen_per_day": sc.TRANSPORT_FEN_PER_DAY},
        "attendance_threshold_percent": sc.THRESHOLD_PERCENT,
    }


async def set_up_programme(api: Departments, run: Run, progress: Progress) -> None:
    progress.step("HR bureau: accredits the institution, registers the assessment body, "
                  "publishes the policy, allocates the budget")
    classes = run.scenario.classes.values()
    await api.call(HR, "POST", "training", "/institutions", json={
        "institution_id": INSTITUTION_ID, "name": "云南某职业技能培训学校",
        "occupations": sorted({c.occupation_code for c in classes}),
        "sites": list({c.site_name: c.site for c in classes}.values()),
        "partners": ["阜康某电力安装公司", "阜康某农业合作社"]},
        accept_codes={"institution_already_accredited"}, what="accredit the institution")
    await api.call(HR, "POST", "assessment", "/bodies", json={
        "body_id": BODY_ID, "name": "云南省职业技能鉴定中心", "code": "YNSK"},
        accept_codes={"body_already_registered"}, what="register the assessment body")
    assessors = {"assessor-xj-1": [], "assessor-xj-2": [], "assessor-xj-3": [INSTITUTION_ID]}
    for assessor_id, affiliations in assessors.items():
        await api.call(BODY, "POST", "assessment", f"/bodies/{BODY_ID}/assessors",
                       json={"assessor_id": assessor_id, "affiliations": affiliations},
                       accept_codes={"assessor_already_added"}, what="add an assessor")
    published = await api.call(HR, "POST", "funding", "/policies", json=policy_body(),
                               expect=(202,), what="publish the funding policy")
    # The policy's lines follow in a recompute job: the ledger is exact once it is done.
    await api.job_done(HR, "funding", published, progress=progress.show,
                       what="recompute the ledger under the policy")
    # The budget is sized with the grant calculator: every trainee attending every day and
    # certified at the class's level, the most the classes can cost under the policy. The
    # classes of a course cost the same per trainee, so one estimate per course will do.
    allocation = 0
    for course in run.scenario.courses.values():
        trainees = sum(len(run.scenario.in_class(c.class_id))
                       for c in run.scenario.of_course(course.key))
        estimate = await api.get(HR, "funding", "/grants/estimate", params={
            "occupation": course.occupation_code, "level": course.level,
            "province": sc.PROVINCE, "city": sc.CITY,
            "first_session": course.sessions[0].day.isoformat(), "days": course.days})
        allocation += estimate["estimate"]["per_trainee_fen"] * trainees
    await api.call(HR, "POST", "funding", "/budget/allocations", json={
        "allocation_id": f"alloc-{run.scenario.seed}-{len(run.scenario.workers)}",
        "fund": FUND, "amount_fen": allocation, "reference": "市级专项资金 2025"},
        accept_codes={"allocation_exists"}, what="allocate the budget")
    progress.done(f"policy luquan-2025 v{published.json()['version']}, "
                  f"+{sc.UPLIFT_PERCENT}% uplift in {sc.PROVINCE}; "
                  f"budget {allocation // 100}.{allocation % 100:02d} yuan (grant calculator)")


# -- 2. the liaison station registers and surveys -------------------------------------------

def registration(worker: sc.Worker) -> dict[str, Any]:
    return {"name": worker.name, "national_id": worker.national_id, "mobile": worker.mobile,
            "hometown_county": sc.LUQUAN, "hometown_township": worker.township,
            "household_county": sc.LUQUAN, "employer": worker.employer,
            "work_site": {"province": sc.PROVINCE, "city": sc.CITY,
                          "site_name": worker.employer}}


async def register_and_survey(api: Departments, run: Run, progress: Progress) -> None:
    workers = run.scenario.workers
    progress.step("Fukang liaison station: registers (real-name check) and surveys workers",
                  len(workers))

    async def one(worker: sc.Worker) -> None:
        response = await api.call(STATION, "POST", "enrolment", "/workers",
                                  json=registration(worker), expect=(201,),
                                  accept_codes=(), what=f"register worker #{worker.index}")
        worker_id = response.json()["worker_id"]
        run.worker_ids[worker.index] = worker_id
        plan = run.scenario.classes[worker.class_id]
        await api.call(STATION, "POST", "enrolment", f"/workers/{worker_id}/intake-surveys",
                       json={"desired_occupations": [plan.occupation_code],
                             "availability": [plan.mode], "earliest_start": "2025-07-20",
                             "current_wage_band": sc.wage_band(worker)},
                       what=f"survey worker #{worker.index}")
        progress.advance()

    await each(WORKER_CALLS, workers, one)
    women = sum(1 for w in workers if w.gender == "female")
    progress.done(f"{len(workers)} workers from {sc.LUQUAN}, {women} women")


# -- 3. the institution schedules, the HR bureau approves -----------------------------------

def describe_classes(scenario: sc.Scenario) -> str:
    """Each class by name when there are few; else how many of each course, and their sizes."""
    if len(scenario.classes) <= SHOWN_CLASSES:
        return ", ".join(f"{p.class_id} ({p.mode}, {len(p.sessions)} sessions)"
                         for p in scenario.classes.values())
    parts = []
    for course in scenario.courses.values():
        sizes = [len(scenario.in_class(p.class_id)) for p in scenario.of_course(course.key)]
        parts.append(f"{len(sizes)} {course.mode} classes of {course.occupation_code} "
                     f"({len(course.sessions)} sessions, {min(sizes)}-{max(sizes)} trainees)")
    return ", ".join(parts)


async def schedule_and_approve(api: Departments, run: Run, progress: Progress) -> None:
    plans = list(run.scenario.classes.values())
    progress.step("Institution schedules the classes; HR bureau approves them", len(plans))

    async def one(plan: sc.ClassPlan) -> None:
        size = len(run.scenario.in_class(plan.class_id))
        await api.call(INSTITUTION, "POST", "training", "/classes", json={
            "class_id": plan.class_id, "institution_id": INSTITUTION_ID,
            "occupation_code": plan.occupation_code, "target_level": plan.level,
            "site": plan.site, "mode": plan.mode,
            "capacity": min(-(-size // 10) * 10, MAX_CLASS_SIZE),
            "sessions": [{"date": s.day.isoformat(), "start_local": s.start.strftime("%H:%M"),
                          "end_local": s.end.strftime("%H:%M"), "kind": s.kind}
                         for s in plan.sessions],
            "required_minutes": plan.required_minutes, "trainer_ids": list(plan.trainer_ids)},
            what=f"schedule {plan.class_id}")
        await api.call(HR, "POST", "training", f"/classes/{plan.class_id}/approval",
                       what=f"approve {plan.class_id}")
        progress.advance()

    await each(CLASSES_AT_ONCE, plans, one)
    progress.done(describe_classes(run.scenario))


# -- 4. enrolment ----------------------------------------------------------------------------

async def enrol(api: Departments, run: Run, progress: Progress) -> None:
    workers = interleaved(run.scenario.rosters.values())
    progress.step("Liaison station enrols each worker in the class they chose", len(workers))

    async def one(worker: sc.Worker) -> None:
        await api.call(STATION, "POST", "enrolment", "/enrolments", json={
            "worker_id": run.worker_ids[worker.index], "class_id": worker.class_id},
            expect=(201,), wait_for={"class_unknown", "class_not_approved"},
            what=f"enrol worker #{worker.index}")
        progress.advance()

    await each(WORKER_CALLS, workers, one)
    progress.done()


# -- 5. attendance ---------------------------------------------------------------------------

async def record_attendance(api: Departments, run: Run, progress: Progress) -> None:
    records = sum(1 for w in run.scenario.workers for m in w.minutes if m > 0)
    progress.step("Institution records attendance, a session's register at a time (face "
                  "check, platform log, on-the-job sign-off)", records)

    async def attend(plan: sc.ClassPlan, worker: sc.Worker, i: int, minutes: int) -> str:
        session = plan.sessions[i]
        response = await api.call(
            INSTITUTION, "POST", "training", f"/classes/{plan.class_id}/attendance",
            json={"session_id": f"s{i + 1:03d}", "worker_id": run.worker_ids[worker.index],
                  "minutes": minutes, "method": session.check_in},
            expect=(201,), wait_for={"worker_not_enrolled"},
            what=f"attendance of worker #{worker.index} at {plan.class_id} s{i + 1:03d}")
        return response.json()["attendance_id"]

    async def register(plan: sc.ClassPlan, i: int, present: list[sc.Worker]) -> None:
        """The session's register in one request, as a face-check terminal uploads it; lines
        refused because training has not yet heard of an enrolment are sent again, for as
        long as training keeps hearing of more of them."""
        session = plan.sessions[i]
        where = f"register of {plan.class_id} s{i + 1:03d}"
        waiting = [{"worker_id": run.worker_ids[w.index], "minutes": w.minutes[i],
                    "method": session.check_in} for w in present]
        deadline = time.monotonic() + api.wait_seconds
        while waiting:
            lines = []
            for chunk in range(0, len(waiting), MAX_CLASS_SIZE):
                response = await api.call(
                    INSTITUTION, "POST", "training",
                    f"/classes/{plan.class_id}/sessions/s{i + 1:03d}/attendance",
                    json={"check_ins": waiting[chunk:chunk + MAX_CLASS_SIZE]}, expect=(200,),
                    what=where)
                lines += response.json()["lines"]
            refused = [line for line in lines if line["outcome"] == "refused"]
            if any(line["code"] != "worker_not_enrolled" for line in refused):
                raise DemoError(f"{where}: {refused[:3]}")
            if len(refused) < len(waiting):
                deadline = time.monotonic() + api.wait_seconds
            elif time.monotonic() > deadline:
                raise DemoError(f"{where}: {refused[:3]}")
            late = {line["worker_id"] for line in refused}
            waiting = [line for line in waiting if line["worker_id"] in late]
            if waiting:
                await asyncio.sleep(0.2)

    async def one_class(plan: sc.ClassPlan) -> None:
        trainees = run.scenario.in_class(plan.class_id)
        for i in range(len(plan.sessions)):
            present = [w for w in trainees if w.minutes[i] > 0]
            await register(plan, i, present)
            progress.advance(len(present))
        # A correction, as the institution would make it: a face check matched the wrong
        # trainee, so that record is voided (never deleted) and the history shows both.
        absent = [(w, i) for w in trainees for i, m in enumerate(w.minutes) if m == 0]
        if absent:
            worker, i = absent[0]
            wrong = await attend(plan, worker, i, plan.sessions[i].minutes)
            await api.call(INSTITUTION, "POST", "training",
                           f"/classes/{plan.class_id}/attendance/{wrong}/void",
                           json={"reason": "face check matched the wrong trainee"},
                           what="void an attendance record")

    await each(CLASSES_AT_ONCE, run.scenario.classes.values(), one_class)
    progress.done(f"{records} records, one wrong record voided per class")


# -- 6. completion ---------------------------------------------------------------------------

async def complete_classes(api: Departments, run: Run, progress: Progress) -> None:
    plans = list(run.scenario.classes.values())
    progress.step("Institution completes the classes (attendance outcome per trainee)",
                  len(plans))

    async def one(plan: sc.ClassPlan) -> dict[str, Any]:
        response = await api.call(INSTITUTION, "POST", "training",
                                  f"/classes/{plan.class_id}/completion", expect=(200,),
                                  what=f"complete {plan.class_id}")
        progress.advance()
        return response.json()

    completed = await each(CLASSES_AT_ONCE, plans, one)
    run.completions = {p.class_id: c for p, c in zip(plans, completed, strict=True)}

    def met(completion: dict[str, Any]) -> int:
        return sum(t["met_threshold"] for t in completion["trainees"])

    if len(plans) <= SHOWN_CLASSES:
        progress.done(", ".join(f"{k}: {met(c)}/{len(c['trainees'])} met "
                                f"{c['threshold_percent']}%" for k, c in run.completions.items()))
    else:
        trainees = sum(len(c["trainees"]) for c in completed)
        progress.done(f"{len(plans)} classes: {sum(met(c) for c in completed)}/{trainees} "
                      f"met {completed[0]['threshold_percent']}%")


# -- 7. assessment by an independent body ----------------------------------------------------

async def assess(api: Departments, run: Run, progress: Progress) -> None:
    eligible = {k: [t["worker_id"] for t in c["trainees"] if t["met_threshold"]]
                for k, c in run.completions.items()}
    progress.step("Independent assessment body assesses eligible trainees; passes are "
                  "certified", sum(len(v) for v in eligible.values()))
    today = programme_today()
    plans = [p for p in run.scenario.classes.values() if eligible[p.class_id]]

    def assessment(plan: sc.ClassPlan, assessors: list[str]) -> dict[str, Any]:
        return {"assessment_id": f"as-{plan.class_id}", "body_id": BODY_ID,
                "class_id": plan.class_id, "assessor_ids": assessors,
                "scheduled_on": today.isoformat()}

    # Assessment learns of a completion from the bus, after the class's attendance (the same
    # partition), so scheduling waits until it has: at a county's size, for as long as
    # reading all the attendance at a slow pace would take.
    waiting = {"class_not_completed", "class_unknown"}
    records = sum(1 for w in run.scenario.workers for m in w.minutes if m > 0)
    read_all = api.wait_seconds + records / SLOW_READING
    if plans:
        # 考培分离: an assessor tied to the institution must recuse, and the body replaces
        # them (shown on the first class; the others are scheduled without that assessor).
        first = assessment(plans[0], ["assessor-xj-1", "assessor-xj-3"])
        refused = await api.call(BODY, "POST", "assessment", "/assessments", json=first,
                                 expect=(), wait_for=waiting, wait_seconds=read_all,
                                 accept_codes={"assessor_must_recuse"},
                                 what=f"schedule {first['assessment_id']}")
        run.recusal = refused.json().get("reason", "")

    async def schedule(plan: sc.ClassPlan) -> None:
        body = assessment(plan, ["assessor-xj-1", "assessor-xj-2"])
        await api.call(BODY, "POST", "assessment", "/assessments", json=body,
                       wait_for=waiting, wait_seconds=read_all,
                       what=f"schedule {body['assessment_id']}")

    await each(CLASSES_AT_ONCE, plans, schedule)
    run.assessments = {p.class_id: f"as-{p.class_id}" for p in plans}
    by_id = {run.worker_ids[w.index]: w for w in run.scenario.workers}

    async def result(candidate: tuple[str, str]) -> None:
        assessment_id, worker_id = candidate
        worker = by_id[worker_id]
        await api.call(BODY, "POST", "assessment", f"/assessments/{assessment_id}/results",
                       json={"worker_id": worker_id, "theory_score": worker.theory_score,
                             "practical_score": worker.practical_score},
                       expect=(201,), what=f"result of worker #{worker.index}")
        progress.advance()

    await each(WORKER_CALLS, interleaved([[(run.assessments[p.class_id], w)
                                           for w in eligible[p.class_id]] for p in plans]),
               result)
    progress.done(f"assessor tied to the institution recused ({run.recusal})")


# -- 8. funding derives the ledger from the events -------------------------------------------

async def class_lines(api: Departments, run: Run) -> list[dict[str, Any]]:
    """The ledger lines of the scenario's classes: the whole ledger in the largest pages (a
    request per page, however many classes), without other runs' classes."""
    ours = run.scenario.classes
    lines = await api.get(HR, "funding", "/ledger", params={"limit": MAX_PAGE_SIZE})
    return [x for x in lines if x["class_id"] in ours]


async def wait_for_ledger(api: Departments, run: Run, progress: Progress) -> None:
    """Funding consumes the events on its own; it is done when every trainee who attended
    has a living-subsidy line and every certificate a training-subsidy line.

    Funding derives a class's lines once it has read the class's completion, which comes
    after all of the class's attendance on the bus, so at a county's size the first line may
    be many minutes away: until it comes, funding is given ``wait_seconds`` and the time to
    read the attendance at a slow pace (``SLOW_READING``); after it, it is given up on when
    no line has come for ``wait_seconds``."""

    async def live_certificates(assessment_id: str) -> int:
        results = await api.get(BODY, "assessment", f"/assessments/{assessment_id}/results")
        return sum(1 for c in results.get("certificates", []) if not c["revoked_on"])

    certified = sum(await each(CLASSES_AT_ONCE, run.assessments.values(), live_certificates))
    attended = sum(1 for c in run.completions.values() for t in c["trainees"]
                   if t["attended_minutes"] > 0)
    records = sum(1 for w in run.scenario.workers for m in w.minutes if m > 0)
    progress.step("Funding derives subsidy lines from the event log", attended + certified)
    deadline = time.monotonic() + api.wait_seconds + records / SLOW_READING
    while True:
        asked = time.monotonic()
        lines = await class_lines(api, run)
        living = sum(1 for x in lines if x["rule"] == "living_subsidy")
        training = sum(1 for x in lines if x["rule"] == "training_subsidy")
        if living + training > progress.count:
            deadline = time.monotonic() + api.wait_seconds
        progress.count = living + training
        progress.advance(0)
        if living >= attended and training >= certified:
            break
        if time.monotonic() > deadline:
            raise DemoError(f"funding derived {living}/{attended} living and "
                            f"{training}/{certified} training subsidy lines")
        # A large ledger takes a while to read, and funding reads it with the process that
        # derives it: leave it at least twice that time to derive between reads.
        await asyncio.sleep(max(0.5, 2 * (time.monotonic() - asked)))
    progress.done(f"{training} training subsidy lines to {INSTITUTION_ID}, "
                  f"{living} living subsidy lines to trainees")


# -- 9. approval, public notice, payment -----------------------------------------------------

def bank_accounts(by_id: dict[str, sc.Worker], payees: set[str]) -> dict[str, dict[str, str]]:
    """Bank details go to funding only to write the bank's file; it never stores them."""
    accounts = {}
    for payee in sorted(payees):
        worker = by_id.get(payee)
        if worker is None:
            accounts[payee] = {"account_name": "云南某职业技能培训学校",
                               "account_number": "6222020200011112222", "bank_code": "ICBC"}
        else:
            accounts[payee] = {"account_name": worker.name,
                               "account_number": f"62170000{worker.index:011d}",
                               "bank_code": "RCCYN"}
    return accounts


def numbered(base: str, count: int) -> list[str]:
    """``base`` alone for one; ``base-01``... for several."""
    return [base] if count == 1 else [f"{base}-{n:0{max(2, len(str(count)))}d}"
                                      for n in range(1, count + 1)]


async def disburse(api: Departments, run: Run, progress: Progress) -> None:
    """The due lines in as few batches as the batch limit allows (MAX_BATCH_LINES lines and
    bank file items each), all approved on one day so their public notices run together."""
    lines = [x for x in await class_lines(api, run) if x["status"] == "due"]
    batches, start = [], 0
    for size in sc.split(len(lines), MAX_BATCH_LINES):
        batches.append(lines[start:start + size])
        start += size
    progress.step("HR bureau approves the batch; public notice (5 working days) with an "
                  "objection; payment instruction and confirmation", 2 * len(batches))
    seed = run.scenario.seed
    run.batch_ids = numbered(f"fk2025-batch-{seed}", len(batches))
    batch_of = {x["line_id"]: b for b, batch in zip(run.batch_ids, batches, strict=True)
                for x in batch}
    notices = []
    for batch_id, batch in zip(run.batch_ids, batches, strict=True):
        approved = await api.call(HR, "POST", "funding", "/batches", json={
            "batch_id": batch_id, "line_ids": [x["line_id"] for x in batch]},
            expect=(201,), what=f"approve {batch_id}")
        notices.append(next(e for e in approved.json() if "last_day" in e))
        progress.advance()
    run.notice = notices[0]
    living = {x["worker_id"]: x["line_id"] for x in lines if x["rule"] == "living_subsidy"}

    def living_line(worker: sc.Worker) -> str:
        return living[run.worker_ids[worker.index]]

    # The trade union questions one trainee's living subsidy; the HR bureau upholds it, so
    # that line is withheld from its batch.
    run.withheld_line = living_line(run.scenario.objection_worker)
    questioned = batch_of[run.withheld_line]
    await api.call(UNION, "POST", "funding", f"/batches/{questioned}/objections", json={
        "objection_id": f"obj-{seed}-1", "line_id": run.withheld_line,
        "ground": "not_attended"}, expect=(201,), what="raise an objection")
    await api.call(HR, "POST", "funding",
                   f"/batches/{questioned}/objections/obj-{seed}-1/resolution",
                   json={"outcome": "upheld"}, what="resolve the objection")

    # Five working days pass (on the test clock).
    clock = await api.get(HR, "funding", "/test-clock")
    last_day = max(date.fromisoformat(n["last_day"]) for n in notices)
    wait = (last_day - date.fromisoformat(clock["today"])).days + 1
    if wait > 0:
        await api.call(HR, "POST", "funding", "/test-clock", json={"days": wait},
                       what="let the public notice run (test clock)")

    # The bank rejects one transfer (a closed account); that line goes back to due.
    run.failed_line = living_line(run.scenario.failed_payment_worker)
    by_id = {run.worker_ids[w.index]: w for w in run.scenario.workers}
    instruction_ids = numbered(f"fk2025-pay-{seed}", len(batches))
    for n, (batch_id, batch) in enumerate(zip(run.batch_ids, batches, strict=True), start=1):
        instruction_id = instruction_ids[n - 1]
        payees = {x["payee_id"] for x in batch if x["line_id"] != run.withheld_line}
        issued = await api.call(HR, "POST", "funding", f"/batches/{batch_id}/instructions",
                                json={"instruction_id": instruction_id,
                                      "accounts": bank_accounts(by_id, payees)},
                                expect=(200,), what=f"issue the payment instruction {n}")
        if n == 1:
            run.instruction_sha256 = issued.headers.get("X-File-SHA256", "")
        failed = [run.failed_line] if batch_of[run.failed_line] == batch_id else []
        await api.call(HR, "POST", "funding", f"/batches/{batch_id}/confirmations", json={
            "instruction_id": instruction_id, "bank_reference": f"RCC-{seed}-{n:04d}",
            "failed_line_ids": failed}, what=f"confirm payment {n}")
        progress.advance()
    several = f"; {len(batches)} batches" if len(batches) > 1 else ""
    progress.done(f"notice {run.notice['first_day']}..{run.notice['last_day']}; "
                  f"1 objection upheld, 1 transfer failed at the bank{several}")


# -- 10. notifications -----------------------------------------------------------------------

UNSETTLED = {"pending", "claimed", "awaiting_gender"}
# Sent on the day a placement's follow-up falls due (the real day: the test clock moves
# employment's 'today', not the sender's): they wait, pending, long after the demo ends.
DEFERRED = {"follow_up_reminder", "station_follow_up_due"}


async def wait_for_notifications(api: Departments, run: Run, progress: Progress) -> None:
    """Notifications is done when nothing is waiting to go and every trainee paid has been
    told (the payment is the last event of the programme). The payments come after every
    ledger line's event on funding's topic, which notifications reads first: until it makes
    or settles a notification, it is given ``wait_seconds`` and the time to read those lines
    at a slow pace (``SLOW_READING``); after that, it is given up on when it has neither made
    nor settled a notification for ``wait_seconds``."""
    lines = await class_lines(api, run)
    paid_workers = len({x["payee_id"] for x in lines
                        if x["payee_kind"] == "worker" and x["status"] == "paid"})
    progress.step("Notifications tells workers and departments", paid_workers)
    deadline = time.monotonic() + api.wait_seconds + len(lines) / SLOW_READING
    seen: tuple[int, int] | None = None  # notifications made, and settled
    while True:
        summary = await api.get(HR, "notifications", "/notifications/summary")
        told = sum(r["count"] for r in summary
                   if r["kind"] == "subsidy_paid" and r["state"] not in UNSETTLED)
        made = sum(r["count"] for r in summary)
        waiting = sum(r["count"] for r in summary
                      if r["state"] in UNSETTLED and r["kind"] not in DEFERRED)
        if seen is not None and (made, made - waiting) > seen:
            deadline = time.monotonic() + api.wait_seconds
        seen = made, made - waiting
        progress.count = told
        progress.advance(0)
        if told >= paid_workers and not waiting:
            break
        if time.monotonic() > deadline:
            raise DemoError(f"notifications still has {summary}, nothing made or settled "
                            f"for {api.wait_seconds}s")
        await asyncio.sleep(0.5)
    progress.done(f"{sum(r['count'] for r in summary if r['state'] == 'sent')} sent")


# -- 11. employment: vacancies, matches, referrals, placements, follow-ups ---------------------

EMPLOYMENT_STEP = ("Fukang liaison station posts vacancies, refers the matched certified "
                   "workers who consent; employers answer; 1- and 3-month follow-ups (test "
                   "clock)")
REFERRALS_AT_ONCE = 2  # requests in flight to one vacancy at most (they race for its stream)


async def certified_workers(api: Departments, run: Run) -> dict[str, list[str]]:
    """The run's workers with a live certificate, by occupation, as the body recorded them."""
    found: dict[str, list[str]] = {}
    for assessment_id in run.assessments.values():
        results = await api.get(BODY, "assessment", f"/assessments/{assessment_id}/results")
        for cert in results.get("certificates", []):
            if not cert["revoked_on"]:
                found.setdefault(cert["occupation_code"], []).append(cert["worker_id"])
    return {o: sorted(ids) for o, ids in sorted(found.items())}


def vacancy_plan(certified: dict[str, list[str]], seed: int, size: int
                 ) -> dict[str, tuple[str, list[str]]]:
    """The vacancies the station posts: for each occupation, one for every ``MAX_HEADCOUNT``
    of its certified workers (a vacancy's headcount is bounded). Vacancy id -> (occupation,
    the workers it is posted for). The first of an occupation keeps the name a run with one
    vacancy an occupation has always given it."""
    plan: dict[str, tuple[str, list[str]]] = {}
    for occupation, workers in certified.items():
        for n, start in enumerate(range(0, len(workers), MAX_HEADCOUNT)):
            vacancy_id = f"fk2025-{occupation}-{seed}-{size}" + (f"-{n + 1}" if n else "")
            plan[vacancy_id] = occupation, workers[start:start + MAX_HEADCOUNT]
    return plan


async def place(api: Departments, run: Run, progress: Progress) -> None:
    run.certified_workers = await certified_workers(api, run)
    certified = [w for ids in run.certified_workers.values() for w in ids]
    progress.step(EMPLOYMENT_STEP, len(certified))
    clock = await api.get(HR, "employment", "/test-clock")
    today = date.fromisoformat(clock["today"])
    seed, size = run.scenario.seed, len(run.scenario.workers)
    plan = vacancy_plan(run.certified_workers, seed, size)
    vacancy_of = {w: vacancy_id for vacancy_id, (_, posted_for) in plan.items()
                  for w in posted_for}
    for vacancy_id, (occupation, posted_for) in plan.items():
        terms = sc.VACANCIES[occupation]
        run.vacancies[vacancy_id] = posted_for
        await api.call(STATION, "POST", "employment", "/vacancies", json={
            "vacancy_id": vacancy_id, "employer": terms.employer,
            "site": {"province": sc.PROVINCE, "city": sc.CITY, "site_name": terms.employer},
            "occupation_code": occupation, "minimum_level": terms.minimum_level,
            "headcount": len(posted_for), "wage_min_fen": terms.wage_min_fen,
            "wage_max_fen": terms.wage_max_fen, "shift_pattern": terms.shift_pattern,
            "starts_on": today.isoformat(), "closes_on": (today + timedelta(days=30)).isoformat()},
            accept_codes={"vacancy_already_posted"}, what=f"post vacancy {vacancy_id}")
    # Each vacancy matches every certified worker of its occupation: its matches hold at
    # least those it was posted for.
    for vacancy_id, posted_for in run.vacancies.items():
        await _matched(api, vacancy_id, set(posted_for))
    by_id = {run.worker_ids[w.index]: w for w in run.scenario.workers}
    placed: dict[str, tuple[str, str, int]] = {}  # referral id -> (vacancy, worker, wage)
    turns = {vacancy_id: asyncio.Semaphore(REFERRALS_AT_ONCE) for vacancy_id in plan}

    async def refer(item: tuple[str, str]) -> None:
        occupation, worker_id = item
        worker, vacancy_id = by_id[worker_id], vacancy_of[worker_id]
        progress.advance()
        if not sc.consents_to_referral(worker):
            return
        async with turns[vacancy_id]:
            await refer_and_answer(occupation, worker_id, worker, vacancy_id)

    async def refer_and_answer(occupation: str, worker_id: str, worker: sc.Worker,
                               vacancy_id: str) -> None:
        referred = await api.call(STATION, "POST", "employment",
                                  f"/vacancies/{vacancy_id}/referrals", json={
                                      "worker_id": worker_id, "consent_method": "signed_form",
                                      "consented_on": today.isoformat()},
                                  expect=(201,), what=f"refer worker #{worker.index}")
        referral_id = referred.json()["referral_id"]
        answer = f"/vacancies/{vacancy_id}/referrals/{referral_id}/answer"
        if not sc.hired(worker):
            await api.call(STATION, "POST", "employment", answer, json={
                "outcome": "declined", "reason": "用人单位面试未通过"},
                what=f"record the employer's answer for worker #{worker.index}")
            return
        wage = sc.VACANCIES[occupation].hired_wage_fen
        await api.call(STATION, "POST", "employment", answer, json={
            "outcome": "hired", "monthly_wage_fen": wage, "starts_on": today.isoformat()},
            what=f"record the hire of worker #{worker.index}")
        placed[referral_id] = (vacancy_id, worker_id, wage)

    # Taken a vacancy at a time in turn, a few to a vacancy at most: the referrals in flight
    # together are spread over the vacancies' streams rather than racing for one.
    at_once = min(WORKER_CALLS, REFERRALS_AT_ONCE * len(plan))
    await each(at_once, interleaved([[(occupation, w) for w in posted_for]
                                     for occupation, posted_for in plan.values()]), refer)
    # Three months pass on employment's test clock: the 1- and 3-month follow-ups fall due.
    await api.call(HR, "POST", "employment", "/test-clock",
                   json={"days": sc.DAYS_TO_THIRD_MONTH},
                   what="let three months pass (employment's test clock)")
    due = [d for d in await api.get(STATION, "employment", "/follow-ups/due",
                                    params={"limit": MAX_PAGE_SIZE})
           if d["referral_id"] in placed]

    async def follow_up(item: dict[str, Any]) -> None:
        vacancy_id, worker_id, wage = placed[item["referral_id"]]
        worker = by_id[worker_id]
        stayed = item["month"] < 3 or sc.still_employed_at_3_months(worker)
        async with turns[vacancy_id]:
            await api.call(STATION, "POST", "employment",
                           f"/vacancies/{vacancy_id}/referrals/{item['referral_id']}"
                           "/follow-ups",
                           json={"month": item["month"], "still_employed": stayed,
                                 "monthly_wage_fen": wage + sc.RAISE_BY_3_MONTHS_FEN
                                 if stayed else None},
                           what=f"follow up worker #{worker.index} at {item['month']} months")

    for month in (1, 3):  # a placement's 1-month follow-up before its 3-month one
        by_vacancy: dict[str, list[dict[str, Any]]] = {vacancy_id: [] for vacancy_id in plan}
        for d in due:
            if d["month"] == month:
                by_vacancy[placed[d["referral_id"]][0]].append(d)
        await each(at_once, interleaved(list(by_vacancy.values())), follow_up)
    referred = sum(1 for o, ids in run.certified_workers.items() for w in ids
                   if sc.consents_to_referral(by_id[w]))
    # Each follow-up recorded cancels its own reminder and task, and a worker who left the
    # later ones: once notifications has read them all, what is left pending is what is due.
    left = sum(1 for _, worker_id, _ in placed.values()
               if not sc.still_employed_at_3_months(by_id[worker_id]))
    await _told(api, {"referral_made": referred, "union_newly_placed": len(placed)},
                cancelled={"follow_up_reminder": len(due) + left,
                           "station_follow_up_due": len(due) + left})
    progress.done(f"{len(run.vacancies)} vacancies, {len(placed)} placed, "
                  f"{len(due)} follow-ups recorded")


async def _matched(api: Departments, vacancy_id: str, workers: set[str]) -> None:
    """Until employment has heard of every certificate (from the bus), the vacancy's matches
    lack some of the workers; they are all there once it has. A vacancy with many candidates
    has its matches built in the background: 503 ``matches_being_built`` until they are."""
    deadline = time.monotonic() + api.wait_seconds
    path = f"/vacancies/{vacancy_id}/matches"
    while True:
        first = await api.call(STATION, "GET", "employment", path,
                               params={"limit": MAX_PAGE_SIZE}, expect=(200, 503),
                               what=f"the matches of {vacancy_id}")
        matches = [] if first.status_code == 503 else await every_page(
            first, lambda link: api.call(STATION, "GET", "employment", link, expect=(200,)))
        missing = workers - {m["worker_id"] for m in matches}
        if not missing:
            return
        if time.monotonic() > deadline:
            raise DemoError(f"{vacancy_id}: {len(missing)} certified workers never matched")
        await asyncio.sleep(0.5)


async def _told(api: Departments, at_least: dict[str, int], *,
                cancelled: dict[str, int]) -> None:
    """Until notifications has made at least so many notices of these kinds, settled every
    one of employment's that is not deferred (the women's federation's lists included), and
    cancelled at least so many deferred ones. At a county's size it reads tens of thousands of
    employment's events for them: it is given up on when nothing it counts has changed for
    ``wait_seconds``."""
    kinds = {*at_least, "womens_followup_placed", "womens_followup_not_placed"}
    deadline = time.monotonic() + api.wait_seconds
    seen: tuple[object, ...] | None = None
    while True:
        summary = await api.get(HR, "notifications", "/notifications/summary")
        made = {k: sum(r["count"] for r in summary if r["kind"] == k) for k in at_least}
        gone = {k: sum(r["count"] for r in summary if r["kind"] == k
                       and r["state"] == "cancelled") for k in cancelled}
        waiting = sum(r["count"] for r in summary
                      if r["kind"] in kinds and r["state"] in UNSETTLED)
        if (not waiting and all(made[k] >= n for k, n in at_least.items())
                and all(gone[k] >= n for k, n in cancelled.items())):
            return
        if seen is not None and (made, gone, waiting) != seen:
            deadline = time.monotonic() + api.wait_seconds
        seen = made, gone, waiting
        if time.monotonic() > deadline:
            raise DemoError(f"notifications made {made} of {at_least}, cancelled {gone} of "
                            f"{cancelled}, {waiting} waiting")
        await asyncio.sleep(0.5)
