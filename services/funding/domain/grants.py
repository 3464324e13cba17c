"""The grant calculator: what a class or a trainee would earn under the policy in force
(an *estimate*), next to what the ledger says is due and paid."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from services.funding.domain.ledger import PAID, Ledger
from services.funding.domain.money import uplifted
from services.funding.domain.policy import (
    PolicyRef,
    catalogue_fen,
    policy_in_force,
    uplift_percent,
)
from shared.contracts.common import WorkSite


@dataclass(frozen=True)
class GrantEstimate:
    policy_id: str
    policy_version: int
    catalogue_fen: int
    uplift_percent: int
    training_subsidy_fen: int  # per certified trainee, to the institution
    living_subsidy_per_day_fen: int
    living_subsidy_fen: int  # per trainee for the days given
    per_trainee_fen: int
    trainees: int
    total_fen: int
    attendance_threshold_percent: int


@dataclass(frozen=True)
class GrantComparison:
    estimate: GrantEstimate
    due_fen: int  # net of reversals, from the ledger
    paid_fen: int


def estimate_grant(policies: Iterable[PolicyRef], *, occupation: str, level: int,
                   site: WorkSite, first_session: date, days: int,
                   trainees: int = 1) -> GrantEstimate | None:
    """Assumes every trainee meets the threshold, is certified at ``level`` and attends
    ``days`` days; None when no policy is in force or the catalogue has no such rate."""
    ref = policy_in_force(policies, first_session)
    if ref is None:
        return None
    policy = ref.policy
    catalogue = catalogue_fen(policy, occupation, level)
    if catalogue is None:
        return None
    uplift = uplift_percent(policy, occupation, site)
    training = uplifted(catalogue, uplift)
    per_day = policy.living_subsidy.per_day_fen
    per_trainee = training + per_day * days
    return GrantEstimate(
        policy_id=policy.policy_id, policy_version=policy.version, catalogue_fen=catalogue,
        uplift_percent=uplift, training_subsidy_fen=training, living_subsidy_per_day_fen=per_day,
        living_subsidy_fen=per_day * days, per_trainee_fen=per_trainee, trainees=trainees,
        total_fen=per_trainee * trainees,
        attendance_threshold_percent=policy.attendance_threshold_percent,
    )


def compare(estimate: GrantEstimate, ledger: Ledger, *, class_id: str,
            worker_id: str | None = None) -> GrantComparison:
    lines = [x for x in ledger.by_class(class_id)
             if worker_id is None or x.worker_id == worker_id]
    return GrantComparison(
        estimate=estimate,
        due_fen=sum(x.amount_fen for x in lines),
        paid_fen=sum(x.amount_fen for x in lines if x.status == PAID),
    )
