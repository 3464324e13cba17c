"""The funding policy as data: publish a version; find the version in force on a date.

One stream per policy series (``funding-policy-<policy_id>``). Versions go up by one. The
version in force on a date is, among every published version of every series, the one with
the latest ``effective_from`` on or before that date; on a tie, the higher version, then the
policy id (so the answer never depends on the order the versions were read in).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import Event
from shared.contracts.bounds import MAX_RATES
from shared.contracts.common import WorkSite
from shared.contracts.funding import (
    MAX_UPLIFT_PERCENT,
    Caps,
    FundingPolicyPublished,
    LivingSubsidy,
    TrainingSubsidyRate,
    Uplift,
)
from shared.runtime.commands import Decider
from shared.runtime.errors import DomainError


def policy_stream(policy_id: str) -> str:
    return f"funding-policy-{policy_id}"


class PublishFundingPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    policy_id: str = Field(min_length=1, max_length=80, pattern=r"^[a-z0-9_-]+$")
    effective_from: date
    training_subsidies: list[TrainingSubsidyRate] = Field(min_length=1, max_length=MAX_RATES)
    uplifts: list[Uplift] = Field(default_factory=list, max_length=MAX_RATES)
    living_subsidy: LivingSubsidy
    attendance_threshold_percent: int = Field(ge=0, le=100)
    caps: Caps = Caps()


@dataclass(frozen=True)
class PolicyState:
    policy_id: str | None = None
    version: int = 0
    effective_from: tuple[date, ...] = field(default_factory=tuple)


def decide_publish(cmd: PublishFundingPolicy, state: PolicyState,
                   today: date) -> list[FundingPolicyPublished]:
    for uplift in cmd.uplifts:
        if uplift.percent > MAX_UPLIFT_PERCENT:
            raise DomainError(
                "uplift_above_ceiling",
                f"an uplift of {uplift.percent}% exceeds the {MAX_UPLIFT_PERCENT}% ceiling",
                percent=uplift.percent, ceiling=MAX_UPLIFT_PERCENT,
            )
    keys = [(r.occupation_code, r.level) for r in cmd.training_subsidies]
    if len(set(keys)) != len(keys):
        raise DomainError("duplicate_rate", "an occupation and level has two subsidy rates")
    scopes = [(u.occupation_code, u.province, u.city) for u in cmd.uplifts]
    if len(set(scopes)) != len(scopes):
        raise DomainError("duplicate_uplift", "an occupation or site has two uplifts")
    return [FundingPolicyPublished(
        policy_id=cmd.policy_id,
        version=state.version + 1,
        effective_from=cmd.effective_from,
        training_subsidies=cmd.training_subsidies,
        uplifts=cmd.uplifts,
        living_subsidy=cmd.living_subsidy,
        attendance_threshold_percent=cmd.attendance_threshold_percent,
        caps=cmd.caps,
        published_on=today,
    )]


def evolve(state: PolicyState, event: FundingPolicyPublished) -> PolicyState:
    return PolicyState(
        policy_id=event.policy_id,
        version=event.version,
        effective_from=(*state.effective_from, event.effective_from),
    )


@dataclass(frozen=True)
class PolicyGiven:
    """What a decision on a policy is given besides its state: funding's 'today'."""

    today: date


def decide(command: object, state: PolicyState, given: PolicyGiven) -> list[Event]:
    match command:
        case PublishFundingPolicy():
            return list(decide_publish(command, state, given.today))
    raise TypeError(f"a policy decides no {type(command).__name__}")


POLICY = Decider(stream=policy_stream, initial=PolicyState(), evolve=evolve, decide=decide)


# -- reading a policy ------------------------------------------------------------------------

@dataclass(frozen=True)
class PolicyRef:
    """A published policy version and the id of the event that published it."""

    event_id: str
    policy: FundingPolicyPublished

    @property
    def sort_key(self) -> tuple[date, int, str]:
        return (self.policy.effective_from, self.policy.version, self.policy.policy_id)


def policy_in_force(policies: Iterable[PolicyRef], on: date) -> PolicyRef | None:
    candidates = [p for p in policies if p.policy.effective_from <= on]
    return max(candidates, key=lambda p: p.sort_key, default=None)


def catalogue_fen(policy: FundingPolicyPublished, occupation: str, level: int) -> int | None:
    for rate in policy.training_subsidies:
        if rate.occupation_code == occupation and rate.level == level:
            return rate.amount_fen
    return None


def uplift_percent(policy: FundingPolicyPublished, occupation: str, site: WorkSite) -> int:
    """The largest uplift that applies (occupation, province or city); uplifts do not add up."""
    applicable = [
        u.percent for u in policy.uplifts
        if (u.occupation_code is not None and u.occupation_code == occupation)
        or (u.province is not None and u.province == site.province
            and (u.city is None or u.city == site.city))
    ]
    return min(max(applicable, default=0), MAX_UPLIFT_PERCENT)
