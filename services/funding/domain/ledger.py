"""THE LEDGER: a pure function from the set of consumed events to ledger lines.

How order independence is achieved
----------------------------------
1. ``canonical`` drops duplicate records (same event id) and sorts the rest by the time the
   *source store* recorded them (then stream, version, id). Arrival order never enters.
2. The records are folded into a fact set in that order; at every distinct recorded time that
   can change money (a *change point*) every claim's entitlement is recomputed from the facts.
3. A claim's lines are the successive changes of its entitlement across change points: the
   first positive change is the line that fell *due*; a later decrease is a *reversal* linked
   to the line it corrects; a later increase is an *adjustment*. So every line's amount is
   "amount due now − amount already booked", and a void or revocation recorded after the line
   fell due shows up as a reversal rather than silently rewriting history, while one recorded
   before never creates a line at all.
4. Statuses (budget, batch, payment) are derived afterwards from funding's own events, with
   budget given out strictly first come first served in (due time, line id) order.

Because everything is a function of (recorded time, event) pairs, ``build_ledger`` on the
records recorded up to T is the ledger *as of* T: the auditor's ``--as-of`` is a filter.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from operator import attrgetter
from typing import Any

from services.funding.domain.entitlements import ClaimKey, Entitlement, entitlements
from services.funding.domain.facts import Consumed, Facts, canonical
from shared.contracts import Envelope
from shared.contracts.assessment import (
    AssessmentBodyRegistered,
    AssessmentScheduled,
    CertificationRevoked,
    SkillLevelCertified,
)
from shared.contracts.funding import (
    BudgetAllocated,
    DisbursementApproved,
    FundingPolicyPublished,
    ObjectionRaised,
    ObjectionResolved,
    PaymentConfirmed,
    PaymentInstructionIssued,
    PublicNoticeStarted,
    RecoveryReceived,
)
from shared.contracts.training import (
    AttendanceRecorded,
    AttendanceVoided,
    ClassCompleted,
    ClassScheduled,
)

_FUNDING_DISBURSEMENT = (BudgetAllocated, DisbursementApproved, PublicNoticeStarted,
                         ObjectionRaised, ObjectionResolved, PaymentInstructionIssued,
                         PaymentConfirmed, RecoveryReceived)

_SHARED = (FundingPolicyPublished, AssessmentBodyRegistered)

LINE_NAMESPACE = uuid.UUID("6c1f3e0a-8d5b-5b7e-9a40-2f7c1d9e4b11")

# statuses of lines with a positive amount
AWAITING_BUDGET = "awaiting_budget"
DUE = "due"
APPROVED = "approved"
ON_HOLD = "on_hold"
WITHHELD = "withheld"
INSTRUCTED = "instructed"
PAID = "paid"
NETTED = "netted"  # nothing left to pay: a later reversal cancelled it before payment
# statuses of reversal lines
OFFSET = "offset"  # nets against an unpaid line of the same claim
RECOVERY_DUE = "recovery_due"  # the money was already paid out and must come back
RECOVERED = "recovered"


def line_id(key: ClaimKey, seq: int) -> str:
    rule, class_id, worker_id = key
    return str(uuid.uuid5(LINE_NAMESPACE, f"{rule}|{class_id}|{worker_id}|{seq}"))


@dataclass(frozen=True)
class LedgerLine:
    line_id: str
    seq: int
    kind: str  # due | reversal | adjustment
    rule: str
    class_id: str
    worker_id: str
    payee_kind: str
    payee_id: str
    amount_fen: int
    policy_id: str
    policy_version: int
    justified_by: tuple[str, ...]
    corrects_line_id: str | None
    due_at: datetime
    note: str = ""
    status: str = ""
    payable_fen: int = 0  # still to pay (> 0) or to recover (< 0)
    fund: str | None = None
    batch_id: str | None = None

    @property
    def key(self) -> ClaimKey:
        return (self.rule, self.class_id, self.worker_id)


@dataclass(frozen=True)
class FundPosition:
    fund: str
    allocated_fen: int = 0
    committed_fen: int = 0  # reserved for due, approved and instructed lines
    paid_fen: int = 0
    recovered_fen: int = 0  # paid out, then received back from the payee

    @property
    def available_fen(self) -> int:
        return self.allocated_fen - self.committed_fen - self.paid_fen + self.recovered_fen


@dataclass(frozen=True)
class BatchView:
    batch_id: str
    approved: DisbursementApproved
    notice: PublicNoticeStarted | None
    open_objections: tuple[str, ...]  # line ids held by an unresolved objection
    withheld: tuple[str, ...]  # line ids an upheld objection took out
    instruction_ids: tuple[str, ...]
    objections: tuple[tuple[str, str, str], ...] = ()  # (objection id, line id, state)
    confirmed_instruction_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ledger:
    lines: tuple[LedgerLine, ...]
    funds: tuple[FundPosition, ...]
    batches: tuple[BatchView, ...] = field(default=())

    def line(self, line_id_: str) -> LedgerLine | None:
        return next((x for x in self.lines if x.line_id == line_id_), None)

    def by_payee(self, payee_id: str) -> list[LedgerLine]:
        return [x for x in self.lines if x.payee_id == payee_id]

    def by_class(self, class_id: str) -> list[LedgerLine]:
        return [x for x in self.lines if x.class_id == class_id]

    def by_worker(self, worker_id: str) -> list[LedgerLine]:
        return [x for x in self.lines if x.worker_id == worker_id]

    def by_fund(self, fund: str) -> list[LedgerLine]:
        return [x for x in self.lines if x.fund == fund]

    def batch(self, batch_id: str) -> BatchView | None:
        return next((b for b in self.batches if b.batch_id == batch_id), None)

    def batch_of_instruction(self, instruction_id: str) -> str | None:
        """The batch an instruction id was issued in, in any batch (ids are funding-wide)."""
        return next((b.batch_id for b in self.batches if instruction_id in b.instruction_ids),
                    None)

    def batch_of_objection(self, objection_id: str) -> str | None:
        """The batch an objection id was raised in, in any batch (ids are funding-wide)."""
        return next((b.batch_id for b in self.batches
                     if any(oid == objection_id for oid, _, _ in b.objections)), None)

    def total_fen(self, **where: str) -> int:
        return sum(x.amount_fen for x in self.lines
                   if all(getattr(x, k) == v for k, v in where.items()))


def build_ledger(records: Iterable[Consumed | Envelope],
                 as_of: datetime | None = None) -> Ledger:
    """The ledger of a set of records (duplicates and arrival order do not matter)."""
    ordered = canonical(records)
    if as_of is not None:
        ordered = [r for r in ordered if r.recorded_at <= as_of]
    return settle(ordered, derive_lines(ordered))


# What each record is about: a worker's own records, a class's records (its assessment too:
# only that class's certificates refer to it) and the few shared ones.
WORKER_RECORDS = (AttendanceRecorded, AttendanceVoided, SkillLevelCertified, CertificationRevoked)
CLASS_RECORDS = (ClassScheduled, ClassCompleted, AssessmentScheduled)
SHARED_RECORDS = _SHARED
_WORKER_OR_CLASS = WORKER_RECORDS + CLASS_RECORDS


def worker_of(event: object) -> str | None:
    """The worker a record is about, or None for class-level and global records."""
    if isinstance(event, WORKER_RECORDS):
        return event.worker_id
    return None


def class_of(event: object) -> str | None:
    """The class a record belongs to (an assessment's too)."""
    if isinstance(event, _WORKER_OR_CLASS):
        return event.class_id
    return None


def counts_only_once_completed(event: object) -> bool:
    """Attendance and its voids cannot change any line while their class has no completion
    in the set of records: claims exist only for completed classes (see ``entitlements``) and
    such a record is no change point (``Facts.add``). So the lines of a set of records are
    the same with or without them, and the service need not re-derive for them."""
    return isinstance(event, AttendanceRecorded | AttendanceVoided)


def workers_in(records: Iterable[Consumed]) -> set[str]:
    """Every worker a ledger line could be about (the trainees of completed classes)."""
    return {t.worker_id for r in records if isinstance(r.event, ClassCompleted)
            for t in r.event.trainees}


class ClassRecords:
    """The class-level and shared records of a history (no duplicates), indexed once: what
    every worker's slice draws from besides the worker's own records."""

    def __init__(self, records: Iterable[Consumed]) -> None:
        self.shared: list[Consumed] = []
        self.by_class: dict[str, list[Consumed]] = defaultdict(list)
        for r in records:
            class_id = class_of(r.event)
            if class_id is not None:
                self.by_class[class_id].append(r)
            elif isinstance(r.event, _SHARED):
                self.shared.append(r)
        # Each worker's completed classes, indexed once: looking them up per worker would
        # cost workers x classes, which made a replay of a long history quadratic.
        self.completed_in: dict[str, set[str]] = defaultdict(set)
        for c, rs in self.by_class.items():
            for r in rs:
                if isinstance(r.event, ClassCompleted):
                    for t in r.event.trainees:
                        self.completed_in[t.worker_id].add(c)

    def workers(self) -> set[str]:
        """The trainees of completed classes: every worker a line could be about."""
        return set(self.completed_in)

    def lines_of(self, worker: str, own: Iterable[Consumed]) -> list[LedgerLine]:
        """One worker's lines from their own records (no duplicates) and this index."""
        own = list(own)
        classes = {class_of(r.event) for r in own} | self.completed_in.get(worker, set())
        slice_ = self.shared + own + [r for c in sorted(c for c in classes if c)
                                      for r in self.by_class.get(c, ())]
        return _lines_of(sorted(slice_, key=lambda r: r.order_key), worker)


def derive_lines(ordered: list[Consumed], workers: Iterable[str] | None = None,
                 ) -> list[LedgerLine]:
    """The ledger lines (without statuses) of every worker, or of the ``workers`` given.

    A worker's lines depend only on the records of the classes they were in, their own
    attendance and certificates (and those classes' assessments), and the global records
    (policies, assessment bodies); so each worker is derived from that slice alone -- the
    same lines as from the whole history, at a fraction of the cost, and what lets the
    service recompute just the workers an event affects (and the auditor derive a history
    one group of workers at a time, see ``songji.audit.history``).
    """
    ordered = canonical(ordered)
    index = ClassRecords(r for r in ordered if worker_of(r.event) is None)
    wanted = index.workers() if workers is None else set(workers)
    own: dict[str, list[Consumed]] = defaultdict(list)
    for r in ordered:
        worker = worker_of(r.event)
        if worker is not None and worker in wanted:
            own[worker].append(r)
    return [x for worker in sorted(wanted) for x in index.lines_of(worker, own[worker])]


def _lines_of(ordered: list[Consumed], worker: str) -> list[LedgerLine]:
    facts = Facts()
    booked: dict[ClaimKey, int] = {}
    history: dict[ClaimKey, list[LedgerLine]] = defaultdict(list)
    i = 0
    while i < len(ordered):
        at = ordered[i].recorded_at
        changed = False
        while i < len(ordered) and ordered[i].recorded_at == at:
            changed = facts.add(ordered[i]) or changed
            i += 1
        if not changed or not (facts.completed or booked):
            continue  # no claim exists before a class completes: nothing can be due
        current = entitlements(facts, worker)
        for key in sorted(current.keys() | booked.keys()):
            ent = current.get(key)
            amount = ent.amount_fen if ent else 0
            delta = amount - booked.get(key, 0)
            if delta == 0:
                continue
            booked[key] = amount
            history[key].append(_line(key, ent, delta, at, history[key]))
    return [x for key in sorted(history) for x in history[key]]


def _line(key: ClaimKey, ent: Entitlement | None, delta: int, at: datetime,
          earlier: list[LedgerLine]) -> LedgerLine:
    seq = len(earlier) + 1
    if ent is None:  # defensive: a claim cannot disappear, but never lose money if it did
        last = earlier[-1]
        ent = Entitlement(last.rule, last.class_id, last.worker_id, last.payee_kind,
                          last.payee_id, 0, last.policy_id, last.policy_version,
                          last.justified_by, at.date())
    positive = [x for x in earlier if x.amount_fen > 0]
    if delta < 0:
        kind, corrects = "reversal", positive[-1].line_id
    else:
        kind = "due" if not earlier else "adjustment"
        corrects = earlier[-1].line_id if earlier else None
    return LedgerLine(
        line_id=line_id(key, seq), seq=seq, kind=kind, rule=ent.rule, class_id=ent.class_id,
        worker_id=ent.worker_id, payee_kind=ent.payee_kind, payee_id=ent.payee_id,
        amount_fen=delta, policy_id=ent.policy_id, policy_version=ent.policy_version,
        justified_by=ent.evidence, corrects_line_id=corrects, due_at=at, note=ent.note,
    )


# -- statuses and budget ---------------------------------------------------------------------

def settle(records: Iterable[Consumed], lines: Iterable[LedgerLine]) -> Ledger:
    """Statuses, funds and batches of ``lines`` from funding's own budget and disbursement
    records (other records are ignored), as of the last of them. Line ids are unique (a
    claim's lines differ in ``seq``; the ledger table's key)."""
    facts = Facts()
    for r in canonical(records):
        if isinstance(r.event, _FUNDING_DISBURSEMENT):
            facts.add(r)
    lines = list(lines)
    state = _disbursement_state(facts)
    instructed, paid, batch_of = state.instructed, state.paid, state.batch_of
    # Claim by claim in key order, each claim's lines in the order given: a stable sort by
    # key. Each line's status, what is left to pay, its batch and then its fund are worked
    # out first, in lists beside the lines, and applied with one copy of each line at the
    # end. (A long ledger is >100k lines: a dict of claims and one of settled lines by id
    # were a fifth of the auditor's peak memory at 1M events; copying each line twice cost
    # time and a third copy of them all.)
    _sort_by(lines, _CLAIM_FIELDS)
    statuses: list[str] = []
    payables: list[int] = []
    batches: list[str | None] = []
    credits: dict[int, tuple[str, int]] = {}  # reversal line's index -> (fund, recovered)
    start = 0
    while start < len(lines):
        key, end = lines[start].key, start + 1
        while end < len(lines) and lines[end].key == key:
            end += 1
        claim = lines[start:end]
        start = end
        due_total = sum(x.amount_fen for x in claim)
        out = sum(instructed.get(x.line_id, 0) for x in claim)
        left = due_total - out
        excess = max(out - due_total, 0)
        for x in claim:
            if x.amount_fen > 0:
                if x.line_id in instructed:
                    status = PAID if x.line_id in paid else INSTRUCTED
                    payable, batch = 0, state.instructed_in[x.line_id]
                else:
                    payable = min(x.amount_fen, max(left, 0))
                    left -= payable
                    batch = batch_of.get(x.line_id)
                    if payable == 0:
                        status = NETTED
                    elif batch is not None and x.line_id in state.withheld:
                        status = WITHHELD
                    elif batch is not None:
                        status = ON_HOLD if x.line_id in state.held else APPROVED
                    else:
                        # never approved, or every batch it was in saw the bank reject it:
                        # due (again); may become AWAITING_BUDGET below
                        status = DUE
            else:
                recover = min(-x.amount_fen, excess)
                excess -= recover
                received = min(state.recovered.get(x.line_id, 0), recover)
                if recover == 0:
                    status = OFFSET
                elif received >= recover:
                    status = RECOVERED
                else:
                    status = RECOVERY_DUE
                payable, batch = received - recover, x.batch_id  # still to recover
                paid_from = _paid_from(x, claim, state)
                if recover and paid_from is not None:
                    credits[len(statuses)] = (
                        state.recovered_to.get(x.line_id) or paid_from, received)
            statuses.append(status)
            payables.append(payable)
            batches.append(batch)

    funds_of, funds = _allocate_budget(facts, lines, statuses, payables, state, credits)
    # Let each line go as its settled copy is made, so that the lines are not held twice
    # (when the caller holds on to none: ``rebuild_ledger``); the order is made below.
    final = []
    while lines:
        x, status, payable, batch, fund = (
            lines.pop(), statuses.pop(), payables.pop(), batches.pop(), funds_of.pop())
        if fund is _UNFUNDED:
            fund = x.fund
        elif fund is None:
            status = AWAITING_BUDGET
        # ``dataclasses.replace`` made the same line at twice the cost (it reads every field
        # by name first): half of settling a long ledger.
        final.append(LedgerLine(**{**vars(x), "status": status, "payable_fen": payable,
                                   "batch_id": batch, "fund": fund}))
    _sort_by(final, _LEDGER_ORDER_FIELDS)
    return Ledger(lines=tuple(final), funds=funds,
                  batches=_batch_views(facts, state.held, state.withheld))


_CLAIM_FIELDS = ("rule", "class_id", "worker_id")  # ``LedgerLine.key``'s
_LEDGER_ORDER_FIELDS = ("due_at", "line_id")


def _sort_by(items: list, fields: tuple[str, ...],
             line_of: Callable[[Any], LedgerLine] | None = None) -> None:
    """Sort ``items`` (lines, or what ``line_of`` maps to a line) as ``items.sort(key=lambda
    i: attrgetter(*fields)(line_of(i)))`` would, stably, without a key tuple for every item:
    one stable sort per field, the last field first, each keyed by the field's own object.
    The tuples were ~8 MB at a time for a ledger of 113,000 lines (made while every line is
    held), memory that grew with the ledger beside it."""
    for name in reversed(fields):
        field_of = attrgetter(name)
        items.sort(key=field_of if line_of is None
                   else lambda i, f=field_of: f(line_of(i)))  # type: ignore[misc]


@dataclass(frozen=True)
class _Disbursed:
    """What funding's own disbursement records say of each line, by line id."""

    instructed: dict[str, int]  # amount in live instruction items (not rejected by the bank)
    instructed_in: dict[str, str]  # the batch of that instruction
    paid: set[str]  # ... of a confirmed instruction
    batch_of: dict[str, str]  # the batch a line not yet instructed is approved in
    fund_of: dict[str, str]  # the fund each approved line is charged to
    held: set[str]
    withheld: set[str]
    recovered: dict[str, int]  # reversal line id -> money received back
    recovered_to: dict[str, str]  # reversal line id -> the fund its recoveries name


def _disbursement_state(facts: Facts) -> _Disbursed:
    """A function of the sets of facts only (each keyed by its id), never of their order.

    A line the bank rejected leaves the batch whose instruction carried it: it is approved in
    no batch (so due again, still charged to its fund) until a new batch approves it, and the
    old batch can no longer instruct it. A line in a live instruction item is instructed or
    paid wherever else it was approved, so it is never paid twice."""
    failed: set[tuple[str, str]] = set()
    for instruction_id, (_, confirmation) in facts.confirmations.items():
        failed |= {(instruction_id, line) for line in confirmation.failed_line_ids}
    instructed: dict[str, int] = {}
    instructed_in: dict[str, str] = {}
    paid: set[str] = set()
    rejected_in: dict[str, set[str]] = defaultdict(set)  # line -> batches the bank rejected
    for instruction_id, (_, issued) in sorted(facts.instructions.items()):
        for item in issued.items:
            if (instruction_id, item.line_id) in failed:
                rejected_in[item.line_id].add(issued.batch_id)
                continue
            instructed[item.line_id] = instructed.get(item.line_id, 0) + item.amount_fen
            instructed_in[item.line_id] = issued.batch_id
            if instruction_id in facts.confirmations:
                paid.add(item.line_id)

    batch_of: dict[str, str] = {}
    fund_of: dict[str, str] = {}
    for _, approved in sorted(facts.batches.values(),
                              key=lambda b: (b[1].approved_on, b[1].batch_id)):
        for approved_line in approved.lines:
            fund_of[approved_line.line_id] = approved_line.fund  # the latest batch's
            if approved.batch_id not in rejected_in.get(approved_line.line_id, ()):
                batch_of[approved_line.line_id] = approved.batch_id  # the latest batch wins
    held: set[str] = set()
    withheld: set[str] = set()
    for objection_id, (_, raised) in facts.objections.items():
        if batch_of.get(raised.line_id) != raised.batch_id:
            continue  # an objection in an earlier batch of a line since re-approved
        resolution = facts.resolutions.get(objection_id)
        if resolution is None:
            held.add(raised.line_id)
        elif resolution[1].outcome == "upheld":
            withheld.add(raised.line_id)
    recovered: dict[str, int] = defaultdict(int)
    recovered_to: dict[str, str] = {}
    for _, received in sorted(facts.recoveries.items()):
        recovered[received[1].line_id] += received[1].amount_fen
        if received[1].fund is not None:
            recovered_to.setdefault(received[1].line_id, received[1].fund)
    return _Disbursed(instructed, instructed_in, paid, batch_of, fund_of, held, withheld,
                      recovered, recovered_to)


def _paid_from(reversal: LedgerLine, claim: list[LedgerLine], state: _Disbursed) -> str | None:
    """The fund a reversal's money was paid from: the fund of the line it corrects, if paid
    out, else of the claim's last line paid out."""
    out = [x for x in claim if x.amount_fen > 0 and x.line_id in state.instructed
           and x.line_id in state.fund_of]
    corrected = [x for x in out if x.line_id == reversal.corrects_line_id]
    chosen = corrected or out
    return state.fund_of[chosen[-1].line_id] if chosen else None


# A line funding's budget decisions leave alone keeps its own fund (``settle``).
_UNFUNDED = object()


def _allocate_budget(facts: Facts, lines: list[LedgerLine], statuses: list[str],
                     payables: list[int], state: _Disbursed,
                     credits: dict[int, tuple[str, int]]):
    """Each line's fund (None: it awaits budget; ``_UNFUNDED``: not decided here), beside
    ``lines``, and the funds' positions. Money recovered on a reversal (``credits``) is
    available again in the fund it was paid from."""
    allocated: dict[str, int] = defaultdict(int)
    for _, allocation in facts.allocations.values():
        allocated[allocation.fund] += allocation.amount_fen
    committed: dict[str, int] = defaultdict(int)
    paid_out: dict[str, int] = defaultdict(int)
    recovered: dict[str, int] = defaultdict(int)
    funded: list[object] = [_UNFUNDED] * len(lines)
    for i, (fund, amount) in credits.items():
        recovered[fund] += amount
        funded[i] = fund
    for i, x in enumerate(lines):  # what funding already decided comes first
        fund = state.fund_of.get(x.line_id)
        if fund is None or statuses[i] in (WITHHELD, NETTED):
            continue
        if x.line_id in state.paid:
            paid_out[fund] += state.instructed[x.line_id]
        elif x.line_id in state.instructed:
            committed[fund] += state.instructed[x.line_id]
        elif payables[i] > 0:
            # approved, or due again after the bank rejected it: still charged to its fund
            committed[fund] += payables[i]
        funded[i] = fund
    waiting = False
    due = [i for i, status in enumerate(statuses) if status == DUE and funded[i] is _UNFUNDED]
    _sort_by(due, _LEDGER_ORDER_FIELDS, lines.__getitem__)
    for i in due:
        fund = None
        if not waiting:  # strictly first come first served: nobody overtakes a waiting line
            for name in sorted(allocated):
                if (allocated[name] - committed[name] - paid_out[name] + recovered[name]
                        >= payables[i]):
                    fund = name
                    break
        if fund is None:
            waiting = True
        else:
            committed[fund] += payables[i]
        funded[i] = fund
    names = sorted(set(allocated) | set(committed) | set(paid_out) | set(recovered))
    funds = tuple(FundPosition(n, allocated[n], committed[n], paid_out[n], recovered[n])
                  for n in names)
    return funded, funds


def _objection_state(facts: Facts, objection_id: str) -> str:
    resolution = facts.resolutions.get(objection_id)
    return "open" if resolution is None else resolution[1].outcome


def _batch_views(facts: Facts, held: set[str], withheld: set[str]) -> tuple[BatchView, ...]:
    views = []
    for batch_id, (_, approved) in sorted(facts.batches.items()):
        ids = {al.line_id for al in approved.lines}
        notice = facts.notices.get(batch_id)
        views.append(BatchView(
            batch_id=batch_id, approved=approved, notice=notice[1] if notice else None,
            open_objections=tuple(sorted(ids & held)), withheld=tuple(sorted(ids & withheld)),
            instruction_ids=tuple(sorted(i for i, (_, ev) in facts.instructions.items()
                                         if ev.batch_id == batch_id)),
            confirmed_instruction_ids=tuple(sorted(
                i for i, (_, ev) in facts.instructions.items()
                if ev.batch_id == batch_id and i in facts.confirmations)),
            objections=tuple(sorted(
                (oid, raised.line_id, _objection_state(facts, oid))
                for oid, (_, raised) in facts.objections.items() if raised.batch_id == batch_id
            )),
        ))
    return tuple(views)



def end_of_local_day(d: date, utc_offset_hours: int = 8) -> datetime:
    """The last instant of a local day (Asia/Shanghai by default), for an ``as_of`` date."""
    zone = timezone(timedelta(hours=utc_offset_hours))
    return datetime.combine(d, time(23, 59, 59, 999999), zone)
