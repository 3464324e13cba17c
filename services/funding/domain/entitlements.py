"""What each claim is worth given a fact set: the rules of the issue, applied to facts.

A *claim* is one trainee in one completed class; it carries two entitlements, the training
subsidy (to the institution) and the living subsidy (to the trainee). Rules:

- The policy in force on the class's first session applies.
- Attendance is recomputed from the attendance records: voided records do not count. A
  *day* is a session date with at least one non-voided record of more than 0 minutes.
- Threshold: attended minutes × 100 ≥ policy threshold % × required minutes.
- Training subsidy: threshold met, and a non-revoked certificate for this class in the
  class's occupation, issued on or after the first session, by a registered body that is
  independent (the institution is not among its affiliations, and none of the assessment's
  assessors taught the class). The best (lowest-numbered) level counts. Amount:
  catalogue(occupation, level) raised by the uplift, half up to the fen (see ``money``).
- Living subsidy: days × (meals + transport) per day, certified or not.
- Ceiling: an amount above ``MAX_FEN`` (the money type's maximum; only an absurd policy or
  class can reach it) is not booked: the entitlement is 0 with the note
  ``above_money_ceiling``, for people to look at, rather than a line no contract can carry.
- Caps, applied per worker over their classes in (first session, class id) order:
  at most N subsidised trainings per calendar year (of the first session) -- a training is
  subsidised when either entitlement is positive; and one training subsidy per occupation
  and level.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from services.funding.domain.facts import Facts
from services.funding.domain.money import uplifted
from services.funding.domain.policy import catalogue_fen, policy_in_force, uplift_percent
from shared.contracts.assessment import SkillLevelCertified
from shared.contracts.funding import MAX_FEN
from shared.contracts.training import ClassCompleted

TRAINING = "training_subsidy"
LIVING = "living_subsidy"
ABOVE_CEILING = "above_money_ceiling"

ClaimKey = tuple[str, str, str]  # (rule, class id, worker id)


@dataclass(frozen=True)
class Entitlement:
    rule: str
    class_id: str
    worker_id: str
    payee_kind: str
    payee_id: str
    amount_fen: int
    policy_id: str
    policy_version: int
    evidence: tuple[str, ...]
    first_session: date
    note: str = ""

    @property
    def key(self) -> ClaimKey:
        return (self.rule, self.class_id, self.worker_id)


@dataclass(frozen=True)
class _Attendance:
    minutes: int
    days: int
    evidence: tuple[str, ...]


def _attendance(facts: Facts, class_id: str, worker_id: str) -> _Attendance:
    minutes, days, evidence = 0, set(), []
    for attendance_id in facts.attendance_of.get((class_id, worker_id), ()):
        event_id, record = facts.attendance[attendance_id]
        evidence.append(event_id)
        void_id = facts.voided.get(attendance_id)
        if void_id is not None:
            evidence.append(void_id)
            continue
        minutes += record.minutes
        if record.minutes > 0:
            days.add(record.session_date)
    return _Attendance(minutes, len(days), tuple(evidence))


def _independent(facts: Facts, completion: ClassCompleted,
                 cert: SkillLevelCertified) -> tuple[bool, list[str]]:
    body = facts.bodies.get(cert.body_id)
    if body is None:
        return False, []
    body_event, registered = body
    if completion.institution_id in registered.affiliations:
        return False, [body_event]
    evidence = [body_event]
    scheduled = facts.scheduled.get(completion.class_id)
    assessment = facts.assessments.get(cert.assessment_id)
    if scheduled is not None and assessment is not None:
        evidence.append(assessment[0])
        if set(assessment[1].assessor_ids) & set(scheduled[1].trainer_ids):
            return False, evidence
    return True, evidence


def _certificate(facts: Facts, completion: ClassCompleted, worker_id: str,
                 ) -> tuple[SkillLevelCertified | None, list[str]]:
    best: SkillLevelCertified | None = None
    evidence: list[str] = []
    for cert_id in sorted(facts.certificates_of.get((completion.class_id, worker_id), ())):
        event_id, cert = facts.certificates[cert_id]
        if cert.occupation_code != completion.occupation_code:
            continue
        evidence.append(event_id)
        revocation = facts.revoked.get(cert_id)
        if revocation is not None:
            evidence.append(revocation)
            continue
        if cert.certified_on < completion.first_session_date:
            continue
        independent, body_evidence = _independent(facts, completion, cert)
        evidence.extend(body_evidence)
        if not independent:
            continue
        if best is None or (cert.level, cert.certified_on, cert.certificate_id) < (
                best.level, best.certified_on, best.certificate_id):
            best = cert
    return best, evidence


def entitlements(facts: Facts, worker: str | None = None) -> dict[ClaimKey, Entitlement]:
    """Every claim's entitlement under the facts (amount 0 when a rule or cap denies it);
    only one worker's claims when ``worker`` is given."""
    uncapped: list[tuple[Entitlement, Entitlement, int | None, int | None]] = []
    for class_id in sorted(facts.completed):
        completion_event, completion = facts.completed[class_id]
        ref = policy_in_force(facts.policies, completion.first_session_date)
        if ref is None:
            continue  # no policy yet: nothing is due; a later policy makes it due
        policy = ref.policy
        scheduled = facts.scheduled.get(class_id)
        base = [completion_event, ref.event_id] + ([scheduled[0]] if scheduled else [])
        # One worker's claims are asked for at every change point of their slice: pick the
        # worker before sorting the roster (the same trainees, in the same order).
        trainees = completion.trainees if worker is None else [
            t for t in completion.trainees if t.worker_id == worker]
        for trainee in sorted(trainees, key=lambda t: t.worker_id):
            att = _attendance(facts, class_id, trainee.worker_id)
            met = att.minutes * 100 >= policy.attendance_threshold_percent * \
                trainee.required_minutes
            living = att.days * policy.living_subsidy.per_day_fen
            living_note = ""
            if living > MAX_FEN:
                living, living_note = 0, ABOVE_CEILING
            cert, cert_evidence = _certificate(facts, completion, trainee.worker_id)
            training, level, note = 0, None, ""
            if not met:
                note = "below_threshold"
            elif cert is None:
                note = "not_certified"
            else:
                catalogue = catalogue_fen(policy, completion.occupation_code, cert.level)
                if catalogue is None:
                    note = "no_catalogue_rate"
                else:
                    level = cert.level
                    training = uplifted(catalogue, uplift_percent(
                        policy, completion.occupation_code, completion.site))
                    if training > MAX_FEN:
                        training, level, note = 0, None, ABOVE_CEILING
            common = dict(class_id=class_id, worker_id=trainee.worker_id,
                          policy_id=policy.policy_id,
                          policy_version=policy.version,
                          first_session=completion.first_session_date)
            uncapped.append((
                Entitlement(rule=TRAINING, payee_kind="institution",
                            payee_id=completion.institution_id, amount_fen=training,
                            evidence=_ids(base, att.evidence, cert_evidence), note=note,
                            **common),
                Entitlement(rule=LIVING, payee_kind="worker", payee_id=trainee.worker_id,
                            amount_fen=living, evidence=_ids(base, att.evidence),
                            note=living_note, **common),
                level,
                policy.caps.max_subsidised_trainings_per_year,
            ))
    return _apply_caps(uncapped, facts)


def _apply_caps(uncapped, facts: Facts) -> dict[ClaimKey, Entitlement]:
    result: dict[ClaimKey, Entitlement] = {}
    per_year: dict[tuple[str, int], int] = defaultdict(int)
    held: set[tuple[str, str, int]] = set()
    order = sorted(uncapped, key=lambda c: (c[0].worker_id, c[0].first_session, c[0].class_id))
    for training, living, level, year_cap in order:
        worker, year = training.worker_id, training.first_session.year
        if training.amount_fen > 0 or living.amount_fen > 0:
            if year_cap is not None and per_year[(worker, year)] >= year_cap:
                training = _capped(training, "year_cap")
                living = _capped(living, "year_cap")
            else:
                per_year[(worker, year)] += 1
        occupation = facts.completed[training.class_id][1].occupation_code
        if training.amount_fen > 0 and level is not None:
            slot = (worker, occupation, level)
            ref = policy_in_force(facts.policies, training.first_session)
            one_per_level = ref is None or ref.policy.caps.one_training_subsidy_per_occupation_level
            if slot in held and one_per_level:
                training = _capped(training, "already_subsidised_at_level")
            else:
                held.add(slot)
        result[training.key] = training
        result[living.key] = living
    return result


def _capped(e: Entitlement, note: str) -> Entitlement:
    return Entitlement(**{**e.__dict__, "amount_fen": 0, "note": note})


def _ids(*groups) -> tuple[str, ...]:
    return tuple(sorted({i for g in groups for i in g}))
