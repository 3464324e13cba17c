"""Contracts: the CloudEvents envelope, the registry and schema compatibility."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from shared.contracts import Envelope, InvalidMessage, model_for, registered_events
from shared.contracts.common import LOCAL_TIME_PATTERN, WorkSite
from shared.contracts.enrolment import WorkerRegistered
from shared.contracts.envelope import readable_headers, text_headers
from shared.contracts.schemas import check_schemas, compatibility_problems, current_schemas
from shared.contracts.training import ClassScheduled, SessionPlan
from tests.committed_schemas import (
    FORMAT_CHECKER,
    committed_validator,
    formats_used,
    schema_errors,
)

SCHEMAS = Path(__file__).parents[2] / "schemas"


def envelope() -> Envelope:
    event = WorkerRegistered(worker_id="w1", gender="female", birth_year=1990)
    return Envelope(
        id=uuid.uuid4(), source="/songji/enrolment", type=event.ce_type(), subject="worker-w1",
        time=datetime(2025, 7, 24, 8, 30, tzinfo=UTC), data=event.model_dump(mode="json"),
        schema_version=1, correlation_id="c-1", causation_id="cause-1", actor_org="station-1",
        actor_user="u-7", stream_version=1, position=42,
    )


def test_binary_mode_round_trip() -> None:
    original = envelope()
    headers = {k: v.decode() for k, v in original.kafka_headers()}
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == "songji.enrolment.WorkerRegistered.v1"
    assert headers["ce_subject"] == "worker-w1"
    assert headers["content-type"] == "application/json"
    assert Envelope.from_kafka(headers, original.kafka_value()) == original
    assert original.event() == WorkerRegistered(worker_id="w1", gender="female",
                                                birth_year=1990)


@pytest.mark.parametrize(
    ("drop", "value", "message"),
    [
        ("ce_specversion", b"{}", "not a CloudEvents 1.0 message"),
        ("ce_type", b"{}", "missing CloudEvents headers: ce_type"),
        (None, b"not json", "body is not JSON"),
        (None, b"[1, 2]", "not a JSON object"),
    ],
)
def test_malformed_messages_are_named(drop: str | None, value: bytes, message: str) -> None:
    headers = {k: v.decode() for k, v in envelope().kafka_headers()}
    if drop:
        del headers[drop]
    with pytest.raises(InvalidMessage, match=message):
        Envelope.from_kafka(headers, value)


def test_data_breaking_its_contract_is_invalid() -> None:
    bad = envelope().model_copy(update={"data": {"worker_id": "w1"}})
    with pytest.raises(InvalidMessage, match="breaks its contract"):
        bad.event()


def test_events_are_frozen_and_strict() -> None:
    event = WorkerRegistered(worker_id="w1", gender="male", birth_year=1990)
    with pytest.raises(ValidationError):
        event.worker_id = "w2"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        WorkerRegistered(worker_id="w1", gender="male", birth_year=1990, name="x")  # type: ignore[call-arg]


def test_registry_finds_models_by_type() -> None:
    assert model_for("songji.enrolment.WorkerRegistered.v1") is WorkerRegistered


def test_no_personal_data_fields_in_any_contract() -> None:
    forbidden = {"name", "national_id", "id_number", "mobile", "phone"}
    for ce_type, schema in current_schemas().items():
        fields = set(schema.get("properties", {}))
        for nested in schema.get("$defs", {}).values():
            fields |= set(nested.get("properties", {}))
        # an institution or body has a registered name; people never do on the bus
        allowed_names = {"InstitutionAccredited", "AssessmentBodyRegistered"}
        if ce_type.split(".")[2] in allowed_names:
            fields.discard("name")
        assert not fields & forbidden, f"{ce_type} carries {fields & forbidden}"


def test_committed_schemas_match_the_contracts() -> None:
    assert check_schemas(SCHEMAS) == []


def _schema() -> dict:
    return WorkerRegistered.model_json_schema()


def test_new_optional_field_is_compatible() -> None:
    new = _schema()
    new["properties"]["site"] = {"type": "string"}
    assert compatibility_problems("t", _schema(), new) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda s: s["properties"].pop("birth_year"), "field 'birth_year' was removed"),
        (lambda s: s["properties"].__setitem__("birth_year", {"type": "string"}),
         "field 'birth_year' changed type"),
        (lambda s: (s["properties"].__setitem__("site", {"type": "string"}),
                    s["required"].append("site")), "field 'site' became required"),
    ],
)
def test_incompatible_changes_are_caught(change, problem: str) -> None:
    new = _schema()
    change(new)
    assert problem in " ".join(compatibility_problems("t", _schema(), new))


def test_a_new_size_bound_is_compatible_but_a_changed_one_or_a_new_pattern_is_not() -> None:
    old = _schema()
    del old["properties"]["worker_id"]["maxLength"]  # as it was before bounds
    assert compatibility_problems("t", old, _schema()) == []
    tighter = _schema()
    tighter["properties"]["hometown_county"]["anyOf"][0]["maxLength"] = 10  # was 60
    assert "field 'hometown_county' changed type" in " ".join(
        compatibility_problems("t", old, tighter))
    patterned = _schema()
    patterned["properties"]["worker_id"]["pattern"] = "^[a-z]+$"
    assert "field 'worker_id' changed type" in " ".join(
        compatibility_problems("t", old, patterned))


def test_check_fails_on_a_committed_schema_changed_incompatibly(tmp_path: Path) -> None:
    for path in SCHEMAS.glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text())
    target = tmp_path / "songji.enrolment.WorkerRegistered.v1.json"
    text = target.read_text().replace('"birth_year"', '"year_of_birth"')
    target.write_text(text)
    problems = check_schemas(tmp_path)
    assert any("field 'year_of_birth' was removed" in p for p in problems)


def test_readme_event_catalogue_is_generated_from_the_contracts() -> None:
    from shared.contracts.catalogue_md import catalogue_is_current, catalogue_table

    readme = Path(__file__).parents[2] / "README.md"
    assert catalogue_is_current(readme), "run `make schemas`"
    for ce_type, model in registered_events().items():
        assert f"`{model.__name__}`" in catalogue_table(), ce_type
        assert model.__doc__, f"{ce_type} has no docstring to describe it in the catalogue"


def test_text_headers_name_a_header_with_no_value_or_not_utf8() -> None:
    assert text_headers([("ce_id", b"a"), ("ce_id", b"b"), ("ce_type", "类".encode())]) == {
        "ce_id": "b", "ce_type": "类"}
    assert text_headers(None) == {}
    with pytest.raises(InvalidMessage, match="header ce_actoruser has no value"):
        text_headers([("ce_id", b"a"), ("ce_actoruser", None)])
    with pytest.raises(InvalidMessage, match="header ce_actoruser is not UTF-8"):
        text_headers([("ce_actoruser", "站点".encode("gb18030"))])


def test_readable_headers_keep_every_header_as_text() -> None:
    assert readable_headers([("a", None), ("b", b"\xb5x"), ("c", "类".encode())]) == {
        "a": "", "b": "\ufffdx", "c": "类"}



# -- local times: declared by what they carry, not as RFC 3339 full-time

def _class_scheduled(start: str = "19:30", end: str = "22:00") -> ClassScheduled:
    plan = SessionPlan(session_id="s-1", date=date(2025, 7, 24), start_local=start,
                       end_local=end, kind="classroom_theory", minutes=150)
    return ClassScheduled(class_id="c-1", institution_id="inst-1",
                          occupation_code="electrician", target_level=4,
                          site=WorkSite(province="新疆", city="阜康", site_name="工地"),
                          mode="night", capacity=60, sessions=[plan], required_minutes=120,
                          trainer_ids=["t-1"])


def test_a_class_scheduled_event_validates_against_its_committed_schema_formats_asserted(
) -> None:
    data = _class_scheduled().model_dump(mode="json")
    assert data["sessions"][0]["start_local"] == "19:30:00"
    assert schema_errors("songji.training.ClassScheduled.v1", data) == []
    data["sessions"][0]["end_local"] = "22:00:00+08:00"
    assert schema_errors("songji.training.ClassScheduled.v1", data)


def test_format_time_as_once_declared_rejects_what_the_events_carry() -> None:
    # why the declaration changed: RFC 3339 full-time requires an offset
    old = {"type": "string", "format": "time"}
    validator = jsonschema.Draft202012Validator(old, format_checker=FORMAT_CHECKER)
    assert not validator.is_valid("19:30:00")
    assert validator.is_valid("19:30:00+08:00")
    assert re.fullmatch(LOCAL_TIME_PATTERN, "19:30:00")
    assert re.fullmatch(LOCAL_TIME_PATTERN, "19:30:00.250000")
    for wrong in ("24:00:00", "19:30", "19:30:00Z", "7:30:00"):
        assert not re.fullmatch(LOCAL_TIME_PATTERN, wrong), wrong


def test_a_local_time_with_an_offset_is_refused() -> None:
    with pytest.raises(ValidationError, match="carries no offset"):
        _class_scheduled(start="19:30:00+08:00")


def test_every_format_in_the_committed_schemas_has_a_checker() -> None:
    used: set[str] = set()
    for path in SCHEMAS.glob("songji.*.json"):
        committed_validator(path.stem)  # fails on a format nothing checks
        used |= formats_used(json.loads(path.read_text()))
    assert "time" not in used
    assert used <= set(FORMAT_CHECKER.checkers)


def test_format_time_replaced_by_the_local_time_pattern_is_the_one_allowed_correction(
) -> None:
    old = {"properties": {"t": {"type": "string", "format": "time"}}}
    corrected = {"properties": {"t": {"type": "string", "pattern": LOCAL_TIME_PATTERN}}}
    assert compatibility_problems("x", old, corrected) == []
    other = {"properties": {"t": {"type": "string", "pattern": "^[0-9]+$"}}}
    assert "field 't' changed type" in " ".join(compatibility_problems("x", old, other))
    dated = {"properties": {"t": {"type": "string", "format": "date"}}}
    assert "field 't' changed type" in " ".join(
        compatibility_problems("x", dated, {"properties": {"t": {
            "type": "string", "pattern": LOCAL_TIME_PATTERN}}}))
