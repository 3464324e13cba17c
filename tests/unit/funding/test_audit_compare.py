from __future__ import annotations

import csv
import dataclasses
import json

from services.funding.domain import build_ledger
from songji.audit.funding_replay import compare_lines, write_differences

from .world import FUKANG_DAYS, World, fukang_uplift


def lines():
    w = World()
    w.policy(uplifts=fukang_uplift())
    w.body()
    w.run_class("c", FUKANG_DAYS, {"w-1": 15, "w-2": 15})
    w.certify("w-1", "c")
    return list(build_ledger(w.records).lines)


def test_identical_ledgers_have_no_differences():
    assert compare_lines(lines(), lines(), "ledger_table") == []


def test_a_changed_amount_a_missing_and_an_unexpected_line_are_named(tmp_path):
    derived, recorded = lines(), lines()
    recorded[0] = dataclasses.replace(recorded[0], amount_fen=recorded[0].amount_fen + 1)
    missing = recorded.pop(1)
    extra = dataclasses.replace(recorded[-1], line_id="forged")
    recorded.append(extra)
    diffs = compare_lines(derived, recorded, "ledger_table")
    assert {(d.line_id, d.field) for d in diffs} == {
        (derived[0].line_id, "amount_fen"), (missing.line_id, "missing"),
        ("forged", "unexpected")}
    as_json = json.loads(write_differences(diffs, tmp_path / "d.json").read_text())
    assert len(as_json) == 3
    rows = list(csv.DictReader(write_differences(diffs, tmp_path / "d.csv").open()))
    assert {r["field"] for r in rows} == {"amount_fen", "missing", "unexpected"}
