from dataclasses import replace
from datetime import date

import pytest

from services.assessment.domain import assessment, body, results
from services.assessment.domain.assessment import Assessment, ForScheduling, ScheduleAssessment
from services.assessment.domain.body import AddAssessor, AssessmentBody, RegisterAssessmentBody
from services.assessment.domain.certificate_number import is_well_formed
from services.assessment.domain.class_view import ClassView, with_partners
from services.assessment.domain.class_view import evolve as evolve_view
from services.assessment.domain.results import (
    CertificateIssue,
    ForResult,
    ForRevocation,
    ForVoid,
    PassMarks,
    RecordResult,
    RevokeCertificate,
    VoidResult,
)
from shared.contracts.assessment import (
    AssessmentBodyRegistered,
    AssessmentResultRecorded,
    AssessmentResultVoided,
    AssessmentScheduled,
    CertificationRevoked,
    SkillLevelCertified,
)
from shared.contracts.training import (
    ClassCompleted,
    ClassScheduled,
    InstitutionAccredited,
    TraineeOutcome,
)
from shared.runtime.errors import DomainError
from tests.unit.builders import FUKANG, fold

COMPLETED_ON = date(2025, 8, 7)
EXAM_DAY = date(2025, 8, 10)


def a_body(affiliations=(), assessors=(("assessor-1", ()),)) -> AssessmentBody:
    state = fold(body.evolve, AssessmentBody(), body.register(
        RegisterAssessmentBody(body_id="body-1", name="云南省职业技能鉴定中心", code="YNSK",
                               affiliations=list(affiliations)), AssessmentBody()))
    for assessor_id, tied in assessors:
        state = fold(body.evolve, state, body.add_assessor(
            AddAssessor(body_id="body-1", assessor_id=assessor_id, affiliations=list(tied)),
            state))
    return state


def trainee(worker_id: str, met: bool) -> TraineeOutcome:
    return TraineeOutcome(worker_id=worker_id, attended_minutes=200 if met else 10,
                          required_minutes=240, attendance_ratio=0.8333 if met else 0.0417,
                          met_threshold=met)


def completed_class(partners=()) -> ClassView:
    scheduled = ClassScheduled(
        class_id="class-1", institution_id="inst-1", occupation_code="electrician",
        target_level=5, site=FUKANG, mode="full_time", capacity=149,
        sessions=[{"session_id": "s001", "date": date(2025, 7, 24), "start_local": "09:00",
                   "end_local": "12:00", "kind": "field", "minutes": 180}],
        required_minutes=180, trainer_ids=["trainer-1"])
    done = ClassCompleted(class_id="class-1", institution_id="inst-1",
                          occupation_code="electrician", target_level=5, site=FUKANG,
                          first_session_date=date(2025, 7, 24), completed_on=COMPLETED_ON,
                          threshold_percent=80,
                          trainees=[trainee("w-1", True), trainee("w-2", True),
                                    trainee("w-3", False)])
    view = fold(evolve_view, None, [scheduled, done])
    assert view is not None
    accredited = InstitutionAccredited(institution_id="inst-1", name="x",
                                       occupations=["electrician"], sites=[FUKANG],
                                       partners=list(partners), accredited_on=COMPLETED_ON)
    return with_partners(view, accredited)


def schedule_cmd(**overrides: object) -> ScheduleAssessment:
    fields: dict[str, object] = dict(assessment_id="as-1", body_id="body-1", class_id="class-1",
                                     assessor_ids=["assessor-1"], scheduled_on=EXAM_DAY)
    fields.update(overrides)
    return ScheduleAssessment.model_validate(fields)


def refused(fn, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as err:
        fn(*args, **kwargs)
    return err.value


def refused_schedule(cmd=None, the_body=None, view=None, state=None) -> DomainError:
    return refused(assessment.schedule, cmd or schedule_cmd(), state or Assessment(),
                   body=the_body or a_body(), class_view=view or completed_class())


# -- bodies ------------------------------------------------------------------------------------

def test_registering_a_body_with_its_code_and_affiliations():
    [event] = body.register(RegisterAssessmentBody(body_id="b", name="n", code="YNSK",
                                                   affiliations=["inst-9", "inst-9"]),
                            AssessmentBody())
    assert event == AssessmentBodyRegistered(body_id="b", name="n", code="YNSK",
                                             affiliations=["inst-9"])


def test_a_body_is_registered_once():
    err = refused(body.register, RegisterAssessmentBody(body_id="body-1", name="n", code="YNSK"),
                  a_body())
    assert err.code == "body_already_registered"


def test_an_assessor_is_added_once_and_only_to_a_known_body():
    err = refused(body.add_assessor, AddAssessor(body_id="body-1", assessor_id="assessor-1"),
                  a_body())
    assert err.code == "assessor_already_added"
    err = refused(body.add_assessor, AddAssessor(body_id="x", assessor_id="a"), AssessmentBody())
    assert err.code == "body_unknown"


# -- scheduling and independence ---------------------------------------------------------------

def test_scheduling_takes_the_trainees_who_met_the_threshold():
    [event] = assessment.schedule(schedule_cmd(), Assessment(), body=a_body(),
                                  class_view=completed_class())
    assert isinstance(event, AssessmentScheduled)
    assert event.candidate_ids == ["w-1", "w-2"]
    assert (event.occupation_code, event.level) == ("electrician", 5)


def test_named_candidates_must_be_eligible():
    [event] = assessment.schedule(schedule_cmd(candidate_ids=["w-2"]), Assessment(),
                                  body=a_body(), class_view=completed_class())
    assert event.candidate_ids == ["w-2"]
    err = refused_schedule(schedule_cmd(candidate_ids=["w-1", "w-3"]))
    assert (err.code, err.details["worker_ids"]) == ("candidate_not_eligible", ["w-3"])


def test_a_class_where_nobody_met_the_threshold_has_no_assessment():
    view = completed_class()
    err = refused_schedule(view=replace(view, eligible_worker_ids=frozenset()))
    assert err.code == "no_eligible_candidates"


def test_only_a_completed_class_is_assessed():
    err = refused_schedule(view=replace(completed_class(), completed_on=None))
    assert err.code == "class_not_completed"
    err = refused(assessment.schedule, schedule_cmd(), Assessment(), body=a_body(),
                  class_view=None)
    assert err.code == "class_not_completed"


def test_an_assessment_is_not_before_the_class_completed():
    err = refused_schedule(schedule_cmd(scheduled_on=date(2025, 8, 6)))
    assert err.code == "assessment_before_completion"


def test_the_body_must_be_registered():
    err = refused(assessment.schedule, schedule_cmd(), Assessment(), body=AssessmentBody(),
                  class_view=completed_class())
    assert err.code == "body_unknown"


def test_an_assessment_is_scheduled_once():
    state = fold(assessment.evolve, Assessment(), assessment.schedule(
        schedule_cmd(), Assessment(), body=a_body(), class_view=completed_class()))
    assert refused_schedule(state=state).code == "assessment_already_scheduled"


def test_the_classs_own_institution_may_not_assess_it():
    own = fold(body.evolve, AssessmentBody(), body.register(
        RegisterAssessmentBody(body_id="inst-1", name="n", code="INST"), AssessmentBody()))
    own = fold(body.evolve, own, body.add_assessor(AddAssessor(body_id="inst-1",
                                                               assessor_id="assessor-1"), own))
    err = refused_schedule(schedule_cmd(body_id="inst-1"), the_body=own)
    assert err.code == "body_not_independent"
    assert "is the institution" in err.message


def test_a_body_affiliated_with_the_institution_is_refused():
    err = refused_schedule(the_body=a_body(affiliations=["inst-1"]))
    assert err.code == "body_not_independent"
    assert "affiliated" in err.message


def test_a_body_affiliated_with_a_partner_of_the_institution_is_refused():
    err = refused_schedule(the_body=a_body(affiliations=["阜康某农业合作社"]),
                           view=completed_class(partners=["阜康某农业合作社"]))
    assert (err.code, err.details["partners"]) == ("body_not_independent", ["阜康某农业合作社"])


def test_an_assessor_who_taught_the_class_must_recuse():
    the_body = a_body(assessors=[("assessor-1", ()), ("trainer-1", ())])
    err = refused_schedule(schedule_cmd(assessor_ids=["assessor-1", "trainer-1"]),
                           the_body=the_body)
    assert (err.code, err.details["assessor_id"], err.details["reason"]) == \
        ("assessor_must_recuse", "trainer-1", "taught_the_class")


def test_an_assessor_affiliated_with_the_institution_must_recuse():
    the_body = a_body(assessors=[("assessor-1", ("inst-1",))])
    err = refused_schedule(the_body=the_body)
    assert (err.code, err.details["reason"]) == ("assessor_must_recuse",
                                                 "affiliated_with_institution")


def test_assessors_must_belong_to_the_body():
    err = refused_schedule(schedule_cmd(assessor_ids=["stranger"]))
    assert err.code == "assessor_unknown"


# -- results and certificates ------------------------------------------------------------------

def scheduled() -> Assessment:
    return fold(assessment.evolve, Assessment(), assessment.schedule(
        schedule_cmd(), Assessment(), body=a_body(), class_view=completed_class()))


def issue(sequence: int = 1, certificate_id: str = "cert-1") -> CertificateIssue:
    return CertificateIssue(certificate_id=certificate_id, body_code="YNSK", sequence=sequence)


def record(state: Assessment, worker="w-1", theory=80, practical=75, result_id="r-1",
           today=EXAM_DAY, marks=None, cert=None) -> list:
    return results.record(RecordResult(assessment_id="as-1", worker_id=worker,
                                       theory_score=theory, practical_score=practical),
                          state, result_id=result_id, issue=cert or issue(), today=today,
                          pass_marks=marks)


def test_a_pass_certifies_the_skill_level_with_a_unique_number():
    recorded, certified = record(scheduled())
    assert isinstance(recorded, AssessmentResultRecorded) and recorded.passed
    assert isinstance(certified, SkillLevelCertified)
    assert certified.certificate_number.startswith("YNSK-2025-000001-")
    assert is_well_formed(certified.certificate_number)
    assert (certified.worker_id, certified.occupation_code, certified.level, certified.body_id,
            certified.class_id, certified.certified_on) == \
        ("w-1", "electrician", 5, "body-1", "class-1", EXAM_DAY)
    _, other = record(scheduled(), worker="w-2", cert=issue(2, "cert-2"))
    assert other.certificate_number != certified.certificate_number


def test_a_fail_in_either_part_issues_no_certificate():
    [theory_fail] = record(scheduled(), theory=59)
    [practical_fail] = record(scheduled(), practical=59)
    assert not theory_fail.passed and not practical_fail.passed


def test_pass_marks_are_parameters():
    [failed] = record(scheduled(), theory=80, practical=75, marks=PassMarks(theory=90))
    assert not failed.passed
    assert len(record(scheduled(), theory=50, practical=50,
                      marks=PassMarks(theory=50, practical=50))) == 2


def test_only_candidates_get_results():
    assert refused(record, scheduled(), worker="w-3").code == "not_a_candidate"


def test_no_result_before_the_assessment_day():
    assert refused(record, scheduled(), today=COMPLETED_ON).code == "assessment_not_held_yet"


def test_no_result_for_an_unknown_assessment():
    assert refused(record, Assessment()).code == "assessment_unknown"


def test_one_live_result_per_candidate():
    state = fold(assessment.evolve, scheduled(), record(scheduled(), theory=10))
    assert refused(record, state, result_id="r-2").code == "result_already_recorded"


def test_voiding_a_pass_also_revokes_its_certificate_and_allows_a_new_result():
    state = fold(assessment.evolve, scheduled(), record(scheduled()))
    voided, revoked = results.void(VoidResult(assessment_id="as-1", result_id="r-1",
                                              reason="marking error"), state, today=EXAM_DAY)
    assert isinstance(voided, AssessmentResultVoided)
    assert isinstance(revoked, CertificationRevoked)
    assert revoked.certificate_id == "cert-1" and "marking error" in revoked.reason
    state = fold(assessment.evolve, state, [voided, revoked])
    assert record(state, result_id="r-2", cert=issue(2, "cert-2"))


def test_voiding_a_fail_revokes_nothing():
    state = fold(assessment.evolve, scheduled(), record(scheduled(), theory=10))
    events = results.void(VoidResult(assessment_id="as-1", result_id="r-1", reason="x"), state,
                          today=EXAM_DAY)
    assert [type(e) for e in events] == [AssessmentResultVoided]


def test_voiding_an_unknown_result_is_refused():
    err = refused(results.void, VoidResult(assessment_id="as-1", result_id="nope", reason="x"),
                  scheduled(), today=EXAM_DAY)
    assert err.code == "result_unknown"


def test_a_result_is_voided_once():
    state = fold(assessment.evolve, scheduled(), record(scheduled(), theory=10))
    cmd = VoidResult(assessment_id="as-1", result_id="r-1", reason="x")
    state = fold(assessment.evolve, state, results.void(cmd, state, today=EXAM_DAY))
    assert refused(results.void, cmd, state, today=EXAM_DAY).code == "result_already_voided"


def test_revoking_a_certificate_with_a_reason():
    state = fold(assessment.evolve, scheduled(), record(scheduled()))
    [event] = results.revoke(RevokeCertificate(certificate_id="cert-1", reason="冒名顶替"),
                             state, assessment_id="as-1", today=EXAM_DAY)
    assert isinstance(event, CertificationRevoked)
    assert (event.reason, event.worker_id, event.level) == ("冒名顶替", "w-1", 5)
    state = fold(assessment.evolve, state, [event])
    err = refused(results.revoke, RevokeCertificate(certificate_id="cert-1", reason="again"),
                  state, assessment_id="as-1", today=EXAM_DAY)
    assert err.code == "certificate_already_revoked"


def test_revoking_an_unknown_certificate_is_refused():
    err = refused(results.revoke, RevokeCertificate(certificate_id="nope", reason="x"),
                  scheduled(), assessment_id="as-1", today=EXAM_DAY)
    assert err.code == "certificate_unknown"


def test_decide_routes_assessment_commands():
    events = results.decide(schedule_cmd(), Assessment(),
                            ForScheduling(body=a_body(), class_view=completed_class()))
    assert isinstance(events[0], AssessmentScheduled)
    assert body.decide(AddAssessor(body_id="body-1", assessor_id="a-2"), a_body(), None)


def test_decide_routes_results_voids_and_revocations_with_what_they_were_given():
    given = ForResult(result_id="r-1", issue=issue(), today=EXAM_DAY, pass_marks=PassMarks())
    recorded, certified = results.decide(RecordResult(
        assessment_id="as-1", worker_id="w-1", theory_score=80, practical_score=75),
        scheduled(), given)
    assert (recorded.result_id, certified.certificate_id) == ("r-1", "cert-1")
    [failed] = results.decide(RecordResult(
        assessment_id="as-1", worker_id="w-1", theory_score=80, practical_score=75),
        scheduled(), replace(given, pass_marks=PassMarks(practical=90)))
    assert not failed.passed
    state = fold(assessment.evolve, scheduled(), [recorded, certified])

    voided, revoked = results.decide(VoidResult(assessment_id="as-1", result_id="r-1",
                                                reason="x"), state, ForVoid(today=EXAM_DAY))
    assert isinstance(voided, AssessmentResultVoided)
    assert (revoked.certificate_id, revoked.revoked_on) == ("cert-1", EXAM_DAY)

    [revocation] = results.decide(RevokeCertificate(certificate_id="cert-1", reason="冒名顶替"),
                                  state, ForRevocation(assessment_id="as-1", today=EXAM_DAY))
    assert (revocation.certificate_id, revocation.reason) == ("cert-1", "冒名顶替")
    err = refused(results.decide, RevokeCertificate(certificate_id="cert-1", reason="x"),
                  Assessment(), ForRevocation(assessment_id="as-9", today=EXAM_DAY))
    assert (err.code, err.details) == ("assessment_unknown", {"assessment_id": "as-9"})


def test_decide_refuses_a_command_given_another_command_s_facts():
    with pytest.raises(TypeError):
        results.decide(VoidResult(assessment_id="as-1", result_id="r-1", reason="x"),
                       scheduled(), ForRevocation(assessment_id="as-1", today=EXAM_DAY))


def test_the_deciders_name_one_stream_per_body_and_per_assessment():
    assert (body.BODY.stream("body-1"), results.ASSESSMENT.stream("as-1")) == \
        ("body-body-1", "assessment-as-1")
    assert body.BODY.initial == AssessmentBody() and results.ASSESSMENT.initial == Assessment()


def test_a_candidate_s_results_are_bounded_corrections_included():
    """Each passed result is a certificate a ledger line cites (with what revoked it): their
    number per candidate is bounded, so that line's event always fits in a broker message."""
    from shared.contracts.bounds import MAX_RESULTS_PER_CANDIDATE

    state = scheduled()
    for i in range(MAX_RESULTS_PER_CANDIDATE):
        state = fold(assessment.evolve, state, record(state, result_id=f"r-{i}",
                                                      cert=issue(i + 1, f"cert-{i}")))
        state = fold(assessment.evolve, state, results.void(VoidResult(
            assessment_id="as-1", result_id=f"r-{i}", reason="marking error"), state,
            today=EXAM_DAY))
    assert refused(record, state, result_id="r-x").code == "too_many_results"
    assert record(state, worker="w-2", result_id="r-w2")  # another candidate's are their own
