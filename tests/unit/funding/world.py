"""Builders for funding tests: a tiny world that records events the way the stores would
(per-stream versions, recorded times, deterministic event ids)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from services.funding.domain.facts import Consumed
from shared.contracts import Event
from shared.contracts.assessment import (
    AssessmentBodyRegistered,
    AssessmentScheduled,
    CertificationRevoked,
    SkillLevelCertified,
)
from shared.contracts.common import WorkSite
from shared.contracts.funding import (
    BudgetAllocated,
    Caps,
    FundingPolicyPublished,
    LivingSubsidy,
    TrainingSubsidyRate,
    Uplift,
)
from shared.contracts.training import (
    AttendanceRecorded,
    AttendanceVoided,
    ClassCompleted,
    ClassScheduled,
    SessionPlan,
    TraineeOutcome,
)

NS = uuid.UUID("0b5e7a52-1f0c-4c1e-9d7e-3a8f6b2c9d10")
FUKANG = WorkSite(province="Xinjiang", city="Fukang", site_name="Fukang farm site")
PUTUO = WorkSite(province="Shanghai", city="Putuo", site_name="Putuo works")
ELECTRICIAN = "electrician"
CROP_PROTECTION = "crop_protection_worker"


def yuan(n: int | float) -> int:
    """Test-side conversion, written out by hand so the tests do not trust the code."""
    return round(n * 100)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


FUKANG_DAYS = days(date(2025, 7, 24), date(2025, 8, 7))  # 15 days


def rates(**by_level: int) -> list[TrainingSubsidyRate]:
    """rates(electrician_4=1500) -> catalogue in fen."""
    out = []
    for key, amount in by_level.items():
        occupation, level = key.rsplit("_", 1)
        out.append(TrainingSubsidyRate(occupation_code=occupation, level=int(level),
                                       amount_fen=yuan(amount)))
    return out


STANDARD_RATES = rates(electrician_5=1000, electrician_4=1500, electrician_3=2000,
                       crop_protection_worker_5=800, crop_protection_worker_4=1200)


class World:
    def __init__(self, start: datetime = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)) -> None:
        self.records: list[Consumed] = []
        self.versions: dict[str, int] = defaultdict(int)
        self.clock = start
        self.counter = 0

    # -- recording ---------------------------------------------------------------------------
    def emit(self, stream: str, event: Event, at: datetime | None = None) -> Consumed:
        self.clock = at if at is not None else self.clock + timedelta(minutes=1)
        self.versions[stream] += 1
        self.counter += 1
        record = Consumed(
            event_id=str(uuid.uuid5(NS, f"{stream}|{self.versions[stream]}|{self.counter}")),
            stream_id=stream, stream_version=self.versions[stream],
            recorded_at=self.clock, event=event)
        self.records.append(record)
        return record

    def on(self, day: date, hour: int = 20) -> datetime:
        """A recorded time on a given day (UTC is fine: only the order matters)."""
        return datetime.combine(day, time(hour, 0), UTC)

    def streams(self) -> dict[str, list[Consumed]]:
        out: dict[str, list[Consumed]] = defaultdict(list)
        for r in self.records:
            out[r.stream_id].append(r)
        return dict(out)

    # -- funding -----------------------------------------------------------------------------
    def policy(self, *, version: int = 1, effective_from: date = date(2025, 1, 1),
               training=STANDARD_RATES, uplifts=(), meals: int = 60, transport: int = 20,
               threshold: int = 80, one_per_level: bool = True, per_year: int | None = None,
               at: datetime | None = None, policy_id: str = "luquan-2025") -> Consumed:
        return self.emit(f"funding-policy-{policy_id}", FundingPolicyPublished(
            policy_id=policy_id, version=version, effective_from=effective_from,
            training_subsidies=list(training), uplifts=list(uplifts),
            living_subsidy=LivingSubsidy(meals_fen_per_day=yuan(meals),
                                         transport_fen_per_day=yuan(transport)),
            attendance_threshold_percent=threshold,
            caps=Caps(one_training_subsidy_per_occupation_level=one_per_level,
                      max_subsidised_trainings_per_year=per_year),
            published_on=(at or self.clock).date()), at=at)

    def budget(self, allocation_id: str, amount_yuan: int, fund: str = "municipal-special",
               at: datetime | None = None) -> Consumed:
        return self.emit("funding-budget", BudgetAllocated(
            allocation_id=allocation_id, fund=fund, amount_fen=yuan(amount_yuan),
            allocated_on=(at or self.clock).date()), at=at)

    # -- assessment --------------------------------------------------------------------------
    def body(self, body_id: str = "body-xj", affiliations: list[str] | None = None,
             at: datetime | None = None) -> Consumed:
        return self.emit(f"body-{body_id}", AssessmentBodyRegistered(
            body_id=body_id, name="Xinjiang skills appraisal centre",
            affiliations=affiliations or [], assessor_ids=["assessor-1", "assessor-2"]), at=at)

    def assessment(self, assessment_id: str, class_id: str, assessors: list[str],
                   body_id: str = "body-xj", occupation: str = ELECTRICIAN, level: int = 4,
                   at: datetime | None = None) -> Consumed:
        return self.emit(f"assessment-{assessment_id}", AssessmentScheduled(
            assessment_id=assessment_id, body_id=body_id, class_id=class_id,
            occupation_code=occupation, level=level, assessor_ids=assessors,
            candidate_ids=[], scheduled_on=date(2025, 8, 8)), at=at)

    def certify(self, worker: str, class_id: str, level: int = 4, occupation: str = ELECTRICIAN,
                body_id: str = "body-xj", certificate_id: str | None = None,
                on: date | None = None, assessment_id: str = "assessment-1",
                at: datetime | None = None) -> Consumed:
        cid = certificate_id or f"cert-{class_id}-{worker}-{level}"
        return self.emit(f"certificate-{cid}", SkillLevelCertified(
            certificate_id=cid, certificate_number=f"N-{cid}", worker_id=worker,
            occupation_code=occupation, level=level, body_id=body_id,
            assessment_id=assessment_id, class_id=class_id,
            certified_on=on or (at or self.clock).date()), at=at)

    def revoke(self, certify_record: Consumed, at: datetime | None = None) -> Consumed:
        cert = certify_record.event
        assert isinstance(cert, SkillLevelCertified)
        return self.emit(certify_record.stream_id, CertificationRevoked(
            certificate_id=cert.certificate_id, certificate_number=cert.certificate_number,
            worker_id=cert.worker_id, occupation_code=cert.occupation_code, level=cert.level,
            class_id=cert.class_id, reason="forged practical record",
            revoked_on=date(2025, 9, 1)), at=at)

    # -- training ----------------------------------------------------------------------------
    def schedule(self, class_id: str, class_days: list[date], *, institution: str = "inst-1",
                 occupation: str = ELECTRICIAN, level: int = 4, site: WorkSite = FUKANG,
                 minutes: int = 240, trainers: list[str] | None = None,
                 at: datetime | None = None) -> Consumed:
        sessions = [SessionPlan(session_id=f"{class_id}-s{i}", date=d, start_local=time(19),
                                end_local=time(23), kind="practical_on_the_job", minutes=minutes)
                    for i, d in enumerate(class_days, start=1)]
        return self.emit(f"class-{class_id}", ClassScheduled(
            class_id=class_id, institution_id=institution, occupation_code=occupation,
            target_level=level, site=site, mode="night", capacity=200, sessions=sessions,
            required_minutes=minutes * len(class_days), trainer_ids=trainers or ["trainer-1"]),
            at=at)

    def attend(self, class_id: str, worker: str, day: date, minutes: int = 240,
               at: datetime | None = None) -> Consumed:
        return self.emit(f"class-{class_id}", AttendanceRecorded(
            attendance_id=f"att-{class_id}-{worker}-{day.isoformat()}", class_id=class_id,
            session_id=f"{class_id}-{day.isoformat()}", session_date=day, worker_id=worker,
            minutes=minutes, method="face_check"), at=at or self.on(day))

    def void(self, attend_record: Consumed, at: datetime | None = None) -> Consumed:
        a = attend_record.event
        assert isinstance(a, AttendanceRecorded)
        return self.emit(attend_record.stream_id, AttendanceVoided(
            attendance_id=a.attendance_id, class_id=a.class_id, session_id=a.session_id,
            session_date=a.session_date, worker_id=a.worker_id, reason="check-in by proxy"),
            at=at)

    def complete(self, class_id: str, class_days: list[date], workers: list[str], *,
                 institution: str = "inst-1", occupation: str = ELECTRICIAN, level: int = 4,
                 site: WorkSite = FUKANG, minutes: int = 240,
                 at: datetime | None = None) -> Consumed:
        required = minutes * len(class_days)
        trainees = [TraineeOutcome(worker_id=w, attended_minutes=0, required_minutes=required,
                                   attendance_ratio=0, met_threshold=False) for w in workers]
        return self.emit(f"class-{class_id}", ClassCompleted(
            class_id=class_id, institution_id=institution, occupation_code=occupation,
            target_level=level, site=site, first_session_date=class_days[0],
            completed_on=class_days[-1], threshold_percent=80, trainees=trainees),
            at=at or self.on(class_days[-1], 23))

    def run_class(self, class_id: str, class_days: list[date], attendance: dict[str, int],
                  **kw) -> Consumed:
        """Schedule, record ``attendance[worker]`` days (the first n days), complete."""
        kw_sched = {k: v for k, v in kw.items() if k in ("institution", "occupation", "level",
                                                           "site", "minutes", "trainers")}
        kw_done = {k: v for k, v in kw.items() if k != "trainers"}
        self.schedule(class_id, class_days, at=self.on(class_days[0], 1), **kw_sched)
        for day in class_days:
            for worker, n in sorted(attendance.items()):
                if class_days.index(day) < n:
                    self.attend(class_id, worker, day,
                                minutes=kw.get("minutes", 240))
        return self.complete(class_id, class_days, sorted(attendance), **kw_done)


def fukang_uplift() -> list[Uplift]:
    return [Uplift(percent=50, province="Xinjiang")]
