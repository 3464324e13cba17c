"""Events for the notification rules' tests: the Fukang class, small."""

from __future__ import annotations

from datetime import date, datetime, time

from services.notifications.domain.model import SHANGHAI
from shared.contracts.assessment import SkillLevelCertified
from shared.contracts.common import WorkSite
from shared.contracts.employment import (
    BusinessGuidanceRequested,
    ReferralDeclined,
    WorkerPlaced,
    WorkerReferred,
)
from shared.contracts.enrolment import WorkerEnrolled
from shared.contracts.funding import ObjectionRaised, PaymentConfirmed, PaymentItem
from shared.contracts.training import ClassCompleted, ClassScheduled, SessionPlan, TraineeOutcome

FUKANG = WorkSite(province="新疆", city="阜康市", site_name="兵团某农场")
AT = datetime(2025, 7, 20, 10, 0, tzinfo=SHANGHAI)


def session(n: int, day: date, start: time = time(19, 30), end: time = time(21, 30)
            ) -> SessionPlan:
    return SessionPlan(session_id=f"s{n}", date=day, start_local=start, end_local=end,
                       kind="classroom_theory", minutes=120)


def scheduled(mode: str = "night", sessions: list[SessionPlan] | None = None) -> ClassScheduled:
    return ClassScheduled(
        class_id="c-elec", institution_id="inst-1", occupation_code="electrician",
        target_level=5, site=FUKANG, mode=mode, capacity=80,
        sessions=sessions or [session(2, date(2025, 7, 25)), session(1, date(2025, 7, 24))],
        required_minutes=240)


def enrolled(worker_id: str = "w-1") -> WorkerEnrolled:
    return WorkerEnrolled(enrolment_id=f"e-{worker_id}", worker_id=worker_id, class_id="c-elec",
                          occupation_code="electrician", target_level=5,
                          enrolled_on=date(2025, 7, 20))


def certified(worker_id: str = "w-1") -> SkillLevelCertified:
    return SkillLevelCertified(
        certificate_id=f"cert-{worker_id}", certificate_number="YN-2025-000123",
        worker_id=worker_id, occupation_code="electrician", level=5, body_id="body-1",
        assessment_id="a-1", class_id="c-elec", certified_on=date(2025, 8, 10))


def completed(*outcomes: tuple[str, float, bool]) -> ClassCompleted:
    return ClassCompleted(
        class_id="c-elec", institution_id="inst-1", occupation_code="electrician",
        target_level=5, site=FUKANG, first_session_date=date(2025, 7, 24),
        completed_on=date(2025, 8, 7), threshold_percent=75,
        trainees=[TraineeOutcome(worker_id=w, attended_minutes=int(r * 240),
                                 required_minutes=240, attendance_ratio=r, met_threshold=m)
                  for w, r, m in outcomes])


def confirmed(failed: list[str] | None = None) -> PaymentConfirmed:
    return PaymentConfirmed(instruction_id="pi-1", confirmed_on=date(2025, 9, 1),
                            bank_reference="BANK-1", failed_line_ids=failed or [])


def items() -> list[PaymentItem]:
    return [
        PaymentItem(line_id="l1", payee_kind="worker", payee_id="w-1", amount_fen=96000),
        PaymentItem(line_id="l2", payee_kind="worker", payee_id="w-1", amount_fen=4050),
        PaymentItem(line_id="l3", payee_kind="worker", payee_id="w-2", amount_fen=88000),
        PaymentItem(line_id="l4", payee_kind="institution", payee_id="inst-1",
                    amount_fen=150000),
    ]


def objection() -> ObjectionRaised:
    return ObjectionRaised(objection_id="o-1", batch_id="b-1", line_id="l3",
                           ground="not_attended", raised_on=date(2025, 8, 20))


def referred(worker_id: str = "w-1") -> WorkerReferred:
    return WorkerReferred(referral_id=f"r-{worker_id}", vacancy_id="v-1", worker_id=worker_id,
                          employer="阜康某电力安装公司", site=FUKANG,
                          occupation_code="electrician", level=5, consent_method="signed_form",
                          consented_on=date(2025, 9, 1), referred_on=date(2025, 9, 1))


def placed(worker_id: str = "w-1", starts_on: date = date(2025, 8, 31)) -> WorkerPlaced:
    return WorkerPlaced(referral_id=f"r-{worker_id}", vacancy_id="v-1", worker_id=worker_id,
                        employer="阜康某电力安装公司", occupation_code="electrician", level=5,
                        site=FUKANG, monthly_wage_fen=650_000, starts_on=starts_on,
                        placed_on=date(2025, 9, 2))


def declined(worker_id: str = "w-2") -> ReferralDeclined:
    return ReferralDeclined(referral_id=f"r-{worker_id}", vacancy_id="v-1",
                            worker_id=worker_id, reason="面试未通过",
                            declined_on=date(2025, 9, 3))


def guidance_requested(worker_id: str = "w-1") -> BusinessGuidanceRequested:
    return BusinessGuidanceRequested(request_id=f"g-{worker_id}", worker_id=worker_id,
                                     business_kind="farming", needs=["loan", "premises"],
                                     hometown_county="禄劝彝族苗族自治县",
                                     requested_on=date(2025, 12, 1))
