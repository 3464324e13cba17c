"""Contracts stay free of personal data and change only compatibly."""

from datetime import date

from shared.contracts import registered_events
from shared.contracts.assessment import AssessmentBodyRegistered
from shared.contracts.enrolment import IntakeSurveyRecorded, WorkerRegistered

PERSONAL = {"name", "full_name", "national_id", "id_number", "mobile", "phone", "employer",
            "hometown_township", "address"}


def test_no_worker_event_has_a_personal_field():
    for ce_type, model in registered_events().items():
        if ce_type.startswith("songji.enrolment."):
            assert not PERSONAL & set(model.model_fields), ce_type


def test_new_fields_are_optional_so_old_events_still_read():
    old = WorkerRegistered.model_validate({"worker_id": "w", "gender": "male",
                                           "birth_year": 1990})
    assert old.hometown_county is None and old.work_site is None
    assert AssessmentBodyRegistered.model_validate({"body_id": "b", "name": "n"}).code is None


def test_the_intake_survey_is_a_registered_enrolment_contract():
    assert IntakeSurveyRecorded.ce_type() == "songji.enrolment.IntakeSurveyRecorded.v1"
    assert IntakeSurveyRecorded.ce_type() in registered_events()
    event = IntakeSurveyRecorded(survey_id="s", worker_id="w", desired_occupations=["welder"],
                                 availability=["weekend"], earliest_start=date(2025, 8, 1),
                                 surveyed_on=date(2025, 7, 1))
    assert event.model_dump(mode="json")["earliest_start"] == "2025-08-01"
