"""Events published by the employment service (topic ``songji.employment.events``).

After the certificate: vacancies at the destinations (推荐就业), referrals of certified
workers with their consent, the employer's answer, and follow-ups of the placed (稳岗增收).
An employer is an organisation's name; workers are pseudonymous ``worker_id`` values; no
event carries a name, a phone or an ID number.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from shared.contracts.base import Event, contract
from shared.contracts.bounds import Id, ShortText, Text
from shared.contracts.common import OccupationCode, SkillLevel, WorkSite

ShiftPattern = Literal["day", "night", "rotating", "flexible"]
ConsentMethod = Literal["signed_form", "witnessed_verbal", "sms_reply"]
VacancyEnd = Literal["closed", "filled"]
FollowUpMonth = Literal[1, 3, 6]

MAX_HEADCOUNT = 1000
"""Workers one vacancy asks for (a large plant's hiring round)."""

MAX_MONTHLY_WAGE_FEN = 10_000_000
"""100,000 yuan a month: above any wage the programme's vacancies pay."""

WageFen = Field(ge=0, le=MAX_MONTHLY_WAGE_FEN, description="Monthly wage in fen (分)")


@contract("employment")
class VacancyPosted(Event):
    """A vacancy was posted near a work site.

    Posted by a liaison station (from its register of employers, 岗位台账) or the HR bureau.
    """

    vacancy_id: Id
    employer: ShortText = Field(description="The employing organisation's name")
    site: WorkSite
    occupation_code: OccupationCode
    minimum_level: SkillLevel = Field(
        description="Lowest certified level accepted (5 basic ... 1 highest): a worker "
                    "certified at this level or a higher one (a smaller number) fits")
    headcount: int = Field(ge=1, le=MAX_HEADCOUNT)
    wage_min_fen: int = WageFen
    wage_max_fen: int = WageFen
    shift_pattern: ShiftPattern
    starts_on: date
    closes_on: date
    posted_on: date


@contract("employment")
class VacancyClosed(Event):
    """A vacancy takes no more referrals.

    Closed by a station or the HR bureau, or filled (its headcount hired).
    """

    vacancy_id: Id
    ended: VacancyEnd
    reason: Text | None = None
    closed_on: date


@contract("employment")
class WorkerReferred(Event):
    """A liaison station referred a certified worker to a vacancy, with their consent.

    How and when the worker agreed is recorded.
    """

    referral_id: Id
    vacancy_id: Id
    worker_id: Id
    employer: ShortText = Field(description="The vacancy's employer (an organisation)")
    site: WorkSite = Field(description="Where the vacancy is")
    occupation_code: OccupationCode
    level: SkillLevel = Field(description="The worker's certified level in the occupation")
    consent_method: ConsentMethod
    consented_on: date
    referred_on: date


@contract("employment")
class ReferralDeclined(Event):
    """The employer did not hire the referred worker, with the reason."""

    referral_id: Id
    vacancy_id: Id
    worker_id: Id
    reason: Text
    declined_on: date


@contract("employment")
class WorkerPlaced(Event):
    """The employer hired the referred worker: the monthly wage agreed and the first day."""

    referral_id: Id
    vacancy_id: Id
    worker_id: Id
    employer: ShortText = Field(description="The employer (an organisation)")
    occupation_code: OccupationCode
    level: SkillLevel
    site: WorkSite
    monthly_wage_fen: int = WageFen
    starts_on: date
    placed_on: date


@contract("employment")
class FollowUpRecorded(Event):
    """A station followed up a placement 1, 3 or 6 months after its start.

    Still employed there or not, and the monthly wage now (when still employed).
    """

    referral_id: Id
    vacancy_id: Id
    worker_id: Id
    month: FollowUpMonth
    still_employed: bool
    monthly_wage_fen: int | None = Field(None, ge=0, le=MAX_MONTHLY_WAGE_FEN,
                                         description="Monthly wage in fen, when still employed")
    recorded_on: date


BusinessKind = Literal["farming", "livestock", "processing", "retail", "catering",
                       "services", "ecommerce", "other"]
GuidanceNeed = Literal["loan", "premises", "business_training", "registration", "market",
                       "policy"]


@contract("employment")
class BusinessGuidanceRequested(Event):
    """A worker asked for guidance to start a business back home (返乡创业).

    Recorded by a liaison station and routed to the HR bureau's list.
    """

    request_id: Id
    worker_id: Id
    business_kind: BusinessKind
    needs: list[GuidanceNeed] = Field(min_length=1, max_length=6)
    hometown_county: ShortText | None = Field(None, description="Where the business would be")
    requested_on: date


@contract("employment")
class BusinessGuidanceGiven(Event):
    """The HR bureau gave a worker's request for business guidance its answer.

    Who takes it on (a county's entrepreneurship guidance centre, say), never a person's name.
    """

    request_id: Id
    worker_id: Id
    referred_to: ShortText
    given_on: date


@contract("employment")
class TrainingOrderPlaced(Event):
    """An employer ordered workers trained in an occupation for a site (订单式培训).

    Recorded by the site's liaison station or the HR bureau. The employer is an organisation's
    name; the order names no worker.
    """

    order_id: Id
    employer: ShortText = Field(description="The ordering organisation's name")
    site: WorkSite = Field(description="Where the trained workers are wanted")
    occupation_code: OccupationCode
    headcount: int = Field(ge=1, le=MAX_HEADCOUNT)
    wanted_by: date = Field(description="The day the employer wants the workers trained by")
    placed_on: date


@contract("employment")
class TrainingOrderPlanned(Event):
    """The HR bureau turned an order into a class plan with an accredited institution.

    The class itself is scheduled by the institution in the training service.
    """

    order_id: Id
    institution_id: Id
    class_id: Id = Field(description="The class the institution is to schedule for the order")
    planned_on: date


@contract("employment")
class TrainingOrderCancelled(Event):
    """An order was cancelled, with the reason."""

    order_id: Id
    reason: Text
    cancelled_on: date
