"""Events published by the funding service (topic ``songji.funding.events``).

Money is always integer fen (1 yuan = 100 fen), never a float. Payees are ids only: an
institution id or a pseudonymous worker id; bank account details never travel on the bus
(they are joined in only when the bank file is written).

Policy, budget and disbursement events are *inputs* of the ledger (funding decided them);
``PayoutDue`` and ``PayoutReversed`` are *outputs*: funding publishes each ledger line once,
so other services can follow payouts, but the ledger never reads them back.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.contracts.base import Event, contract
from shared.contracts.bounds import (
    MAX_BATCH_LINES,
    MAX_EVIDENCE,
    MAX_RATES,
    EventRef,
    Id,
    ShortText,
)
from shared.contracts.common import OccupationCode, SkillLevel

# The largest amount any one money field holds, in fen: 10^12 fen = 10 billion yuan, far above
# any subsidy rate, line, allocation or recovery a county or a province books in one entry.
# Amounts are Python ints (exact, unbounded) but PostgreSQL keeps them as bigint (int64, up to
# 9.22 x 10^18): with this ceiling 9.2 million amounts at the maximum still sum without
# overflow, far more than a province's ledger holds, and a derived amount (a rate times the
# days attended, raised by an uplift) is checked against it before it becomes a line.
MAX_FEN = 10**12
Fen = Annotated[int, Field(ge=0, le=MAX_FEN,
                           description="Integer fen (1 yuan = 100 fen), 0 to 10^12 "
                                       "(10 billion yuan)")]
"""The money type: every amount in funding's commands and events (a field may narrow it,
e.g. ``Field(gt=0)``; never widen it: pydantic lets a later bound of the same kind win)."""
# A ledger line's amount is a change (negative for a reversal) of the same magnitude bound.
FenChange = Annotated[int, Field(ge=-MAX_FEN, le=MAX_FEN,
                                 description="A change in integer fen, at most 10^12 "
                                             "(10 billion yuan) either way")]
# A sum of amounts (an instruction's total): the items are each at most MAX_FEN, so the sum
# is bounded by what PostgreSQL's bigint holds.
MAX_TOTAL_FEN = 2**63 - 1
TotalFen = Annotated[int, Field(ge=0, le=MAX_TOTAL_FEN,
                                description="A sum of amounts in integer fen (fits a bigint)")]
PayeeKind = Literal["institution", "worker"]
LedgerRule = Literal["training_subsidy", "living_subsidy"]

MAX_UPLIFT_PERCENT = 50


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrainingSubsidyRate(_Value):
    """The catalogue amount for one occupation at one certified skill level."""

    occupation_code: OccupationCode
    level: SkillLevel
    amount_fen: Fen = Field(ge=0)


class Uplift(_Value):
    """A raise of the training subsidy for an occupation or for a site (province, city).

    The contract accepts 0..100 so that a policy breaking the 50% ceiling can still be read
    from history; publishing one is refused by the policy's decide.
    """

    percent: int = Field(ge=0, le=100)
    occupation_code: OccupationCode | None = None
    province: str | None = Field(default=None, max_length=40)
    city: str | None = Field(default=None, max_length=40,
                             description="None: the whole province")

    @model_validator(mode="after")
    def _one_scope(self) -> Uplift:
        by_occupation = self.occupation_code is not None
        by_site = self.province is not None
        if by_occupation == by_site:
            raise ValueError("an uplift is either for an occupation or for a site")
        if self.city is not None and self.province is None:
            raise ValueError("a city uplift names its province")
        return self


class LivingSubsidy(_Value):
    """Paid to the trainee for each day attended (meals and transport)."""

    meals_fen_per_day: Fen = Field(ge=0)
    transport_fen_per_day: Fen = Field(ge=0)

    @property
    def per_day_fen(self) -> Fen:
        return self.meals_fen_per_day + self.transport_fen_per_day


class Caps(_Value):
    one_training_subsidy_per_occupation_level: bool = True
    max_subsidised_trainings_per_year: int | None = Field(
        default=None, ge=1, description="Per worker per calendar year; None: no cap")


@contract("funding")
class FundingPolicyPublished(Event):
    """A version of the funding policy. The version in force on a class's first session applies."""

    policy_id: Id
    version: int = Field(ge=1)
    effective_from: date
    training_subsidies: list[TrainingSubsidyRate] = Field(max_length=MAX_RATES)
    uplifts: list[Uplift] = Field(default_factory=list, max_length=MAX_RATES)
    living_subsidy: LivingSubsidy
    attendance_threshold_percent: int = Field(ge=0, le=100)
    caps: Caps = Caps()
    published_on: date


@contract("funding")
class BudgetAllocated(Event):
    """Money from a named municipal fund was allocated to the programme."""

    allocation_id: Id
    fund: str = Field(min_length=1, max_length=80, description="Name of the fund")
    amount_fen: Fen = Field(gt=0)
    allocated_on: date
    reference: str | None = Field(default=None, max_length=200,
                                  description="The appropriation document")


@contract("funding")
class PayoutDue(Event):
    """A ledger line with a positive amount: money owed to the payee."""

    line_id: Id
    rule: LedgerRule
    payee_kind: PayeeKind
    payee_id: Id
    class_id: Id
    worker_id: Id
    amount_fen: FenChange = Field(gt=0)
    policy_id: Id
    policy_version: int
    justified_by: list[EventRef] = Field(max_length=MAX_EVIDENCE)
    corrects_line_id: Id | None = None
    due_at: AwareDatetime


@contract("funding")
class PayoutReversed(Event):
    """A ledger line with a negative amount, correcting an earlier line of the same claim."""

    line_id: Id
    rule: LedgerRule
    payee_kind: PayeeKind
    payee_id: Id
    class_id: Id
    worker_id: Id
    amount_fen: FenChange = Field(lt=0)
    policy_id: Id
    policy_version: int
    justified_by: list[EventRef] = Field(max_length=MAX_EVIDENCE)
    corrects_line_id: Id
    due_at: AwareDatetime


class ApprovedLine(_Value):
    line_id: Id
    payee_kind: PayeeKind
    payee_id: Id
    fund: str = Field(max_length=80, description="Name of the fund (as BudgetAllocated names it)")
    amount_fen: Fen = Field(gt=0)


@contract("funding")
class DisbursementApproved(Event):
    """The HR bureau approved a batch of due lines, each charged to a fund."""

    batch_id: Id
    lines: list[ApprovedLine] = Field(min_length=1, max_length=MAX_BATCH_LINES)
    approved_on: date
    approved_by: Id = Field(description="User id of the approving officer, from their token "
                                        "(the organisation's id when its own token was used)")


@contract("funding")
class PublicNoticeStarted(Event):
    """公示: the batch is published; objections are accepted until ``last_day`` inclusive."""

    batch_id: Id
    first_day: date
    last_day: date
    working_days: int = Field(gt=0)


ObjectionGround = Literal["not_attended", "not_eligible", "duplicate", "wrong_amount", "other"]


@contract("funding")
class ObjectionRaised(Event):
    """An objection holds its line until resolved. No personal data of the objector."""

    objection_id: Id
    batch_id: Id
    line_id: Id
    ground: ObjectionGround
    raised_on: date


@contract("funding")
class ObjectionResolved(Event):
    """``upheld``: the line is withheld from the batch; ``dismissed``: it goes ahead."""

    objection_id: Id
    batch_id: Id
    line_id: Id
    outcome: Literal["upheld", "dismissed"]
    resolved_on: date


class PaymentItem(_Value):
    line_id: Id
    payee_kind: PayeeKind
    payee_id: Id
    amount_fen: Fen = Field(gt=0)


@contract("funding")
class PaymentInstructionIssued(Event):
    """A bank file was issued; its SHA-256 is recorded, the file itself is not on the bus."""

    instruction_id: Id
    batch_id: Id
    items: list[PaymentItem] = Field(min_length=1, max_length=MAX_BATCH_LINES)
    total_fen: TotalFen = Field(gt=0)
    file_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", max_length=64)
    issued_on: date

    @model_validator(mode="after")
    def _total_adds_up(self) -> PaymentInstructionIssued:
        if sum(i.amount_fen for i in self.items) != self.total_fen:
            raise ValueError("total_fen is not the sum of the items")
        return self


@contract("funding")
class PaymentConfirmed(Event):
    """The bank confirmed the instruction; lines it rejected go back to due.

    A rejected line leaves its batch (which cannot instruct it again) and is due again,
    still charged to its fund, so that it can be approved in a new batch; the items paid
    are paid once and for all. A line is paid at most once: once re-approved, only its new
    batch can pay it.
    """

    instruction_id: Id
    confirmed_on: date
    bank_reference: ShortText
    failed_line_ids: list[Id] = Field(default_factory=list, max_length=MAX_BATCH_LINES)


@contract("funding")
class RecoveryReceived(Event):
    """Money paid on a line later reversed came back from the payee, to the fund paid from.

    ``fund`` names the fund credited; a recovery recorded before the field existed goes to
    the fund of the paid line that the reversal corrects."""

    recovery_id: Id
    line_id: Id = Field(description="The reversal line being settled")
    amount_fen: Fen = Field(gt=0)
    received_on: date
    fund: str | None = Field(default=None, min_length=1, max_length=80,
                             description="The fund credited: the one the line was paid from")

