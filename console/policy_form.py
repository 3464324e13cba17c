"""The HR bureau's form for a new version of the funding policy: what ``POST /policies`` takes
(services/funding/domain/policy.py, PublishFundingPolicy), field by field. Money is typed in
yuan with at most two decimals and sent in integer fen; the form starts from the newest
version published. Funding's refusals are placed beside the field they concern."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from console.form_rows import (
    Row,
    complaint,
    edit_rows,
    field_name,
    is_blank,
    read_rows,
    refused_fields,
)
from console.i18n import fen_of
from console.services import Refused

RATE_FIELDS = ("occupation", "level", "amount")
UPLIFT_FIELDS = ("percent", "province", "city", "occupation")
BLANK_RATE: Row = {"occupation": "", "level": "", "amount": ""}
BLANK_UPLIFT: Row = {"percent": "", "province": "", "city": "", "occupation": ""}
SCALARS = ("policy_id", "effective_from", "meals_yuan", "transport_yuan", "threshold",
           "cap_per_year", "cap_one")
# where funding's 422 points (its names), the form's field
WIRE_RATE = {"occupation_code": "occupation", "level": "level", "amount_fen": "amount"}
WIRE_UPLIFT = {"percent": "percent", "province": "province", "city": "city",
               "occupation_code": "occupation"}
WIRE_SCALAR = {("policy_id",): "policy_id", ("effective_from",): "effective_from",
               ("living_subsidy", "meals_fen_per_day"): "meals_yuan",
               ("living_subsidy", "transport_fen_per_day"): "transport_yuan",
               ("attendance_threshold_percent",): "threshold",
               ("caps", "max_subsidised_trainings_per_year"): "cap_per_year",
               ("caps", "one_training_subsidy_per_occupation_level"): "cap_one",
               ("training_subsidies",): "rates", ("uplifts",): "uplifts"}


def yuan_text(fen: int) -> str:
    """Fen as a field's yuan, two decimals and no grouping: 150050 -> '1500.50'."""
    return f"{fen // 100}.{fen % 100:02d}"


@dataclass
class PolicyForm:
    """The form as typed, and each problem (in the user's language) by field name:
    ``rate-1-amount``, ``meals_yuan``; ``form`` for what concerns no one field."""

    values: dict[str, str]
    rates: list[Row]
    uplifts: list[Row]
    errors: dict[str, str] = field(default_factory=dict)
    focus: str | None = None
    # the version it was filled in from: (policy_id, version), None for the example
    source: tuple[str, int] | None = None

    @classmethod
    def of_policy(cls, policy: Mapping[str, Any],
                  source: tuple[str, int] | None = None) -> PolicyForm:
        """Filled in from a published version (or a request body of the same shape)."""
        living = policy["living_subsidy"]
        caps = policy.get("caps") or {}
        per_year = caps.get("max_subsidised_trainings_per_year")
        values = {"policy_id": str(policy["policy_id"]),
                  "effective_from": str(policy["effective_from"]),
                  "meals_yuan": yuan_text(living["meals_fen_per_day"]),
                  "transport_yuan": yuan_text(living["transport_fen_per_day"]),
                  "threshold": str(policy["attendance_threshold_percent"]),
                  "cap_per_year": "" if per_year is None else str(per_year),
                  "cap_one": "on" if caps.get("one_training_subsidy_per_occupation_level",
                                              True) else ""}
        rates = [{"occupation": r["occupation_code"], "level": str(r["level"]),
                  "amount": yuan_text(r["amount_fen"])} for r in policy["training_subsidies"]]
        uplifts = [{"percent": str(u["percent"]), "province": u.get("province") or "",
                    "city": u.get("city") or "", "occupation": u.get("occupation_code") or ""}
                   for u in policy.get("uplifts") or []]
        return cls(values, rates or [dict(BLANK_RATE)], uplifts or [dict(BLANK_UPLIFT)],
                   source=source)

    @classmethod
    def as_typed(cls, fields: Mapping[str, str]) -> PolicyForm:
        return cls({k: fields.get(k, "").strip() for k in SCALARS},
                   read_rows(fields, "rate", RATE_FIELDS),
                   read_rows(fields, "uplift", UPLIFT_FIELDS))


def edited(fields: Mapping[str, str]) -> PolicyForm | None:
    """The form after one of its add-row or remove-row buttons; None when it was neither."""
    form = PolicyForm.as_typed(fields)
    for prefix, blank, first in (("rate", BLANK_RATE, "occupation"),
                                 ("uplift", BLANK_UPLIFT, "percent")):
        rows = form.rates if prefix == "rate" else form.uplifts
        done = edit_rows(fields, prefix, rows, blank)
        if done is None:
            continue
        if prefix == "rate":
            form.rates = done[0]
        else:
            form.uplifts = done[0]
        form.focus = field_name(prefix, done[1], first) if done[1] is not None else None
        return form
    return None


@dataclass
class Parsed:
    """The request, and for each of its rates and uplifts the form row it came from."""

    body: dict[str, Any] | None
    rate_rows: list[int]
    uplift_rows: list[int]
    form: PolicyForm


def _whole(text: str, *, low: int = 0, high: int | None = None) -> int | None:
    if not text.isdigit():
        return None
    number = int(text)
    return number if number >= low and (high is None or number <= high) else None


def _fen(text: str) -> int | None:
    try:
        return fen_of(text)
    except ValueError:
        return None


def read_policy_form(fields: Mapping[str, str], lang: str) -> Parsed:
    """The PublishFundingPolicy request the form makes; its body None when the console
    already sees what is wrong (each problem beside its field). Blank rows are left out."""
    form = PolicyForm.as_typed(fields)
    say = form.errors.setdefault
    v = form.values
    if not v["policy_id"]:
        say("policy_id", complaint(lang, "missing"))
    try:
        effective_from = date.fromisoformat(v["effective_from"]).isoformat()
    except ValueError:
        say("effective_from", complaint(lang, "date"))
        effective_from = ""
    meals, transport = _fen(v["meals_yuan"]), _fen(v["transport_yuan"])
    for name, fen in (("meals_yuan", meals), ("transport_yuan", transport)):
        if fen is None:
            say(name, complaint(lang, "yuan"))
    threshold = _whole(v["threshold"], high=100)
    if threshold is None:
        say("threshold", complaint(lang, "percent"))
    per_year = None
    if v["cap_per_year"]:
        per_year = _whole(v["cap_per_year"], low=1)
        if per_year is None:
            say("cap_per_year", complaint(lang, "number"))
    rates, rate_rows = [], []
    for index, row in enumerate(form.rates):
        if is_blank(row):
            continue
        name = lambda part, i=index: field_name("rate", i, part)  # noqa: E731
        if not row["occupation"]:
            say(name("occupation"), complaint(lang, "missing"))
        level, amount = _whole(row["level"], low=1, high=5), _fen(row["amount"])
        if level is None:
            say(name("level"), complaint(lang, "number"))
        if amount is None:
            say(name("amount"), complaint(lang, "yuan"))
        if row["occupation"] and level is not None and amount is not None:
            rates.append({"occupation_code": row["occupation"], "level": level,
                          "amount_fen": amount})
            rate_rows.append(index)
    if not rates and not any(k.startswith("rate-") for k in form.errors):
        say("rates", complaint(lang, "no_rates"))
    uplifts, uplift_rows = [], []
    for index, row in enumerate(form.uplifts):
        if is_blank(row):
            continue
        name = lambda part, i=index: field_name("uplift", i, part)  # noqa: E731
        percent = _whole(row["percent"], high=100)
        if percent is None:
            say(name("percent"), complaint(lang, "percent"))
        by_place, by_occupation = bool(row["province"]), bool(row["occupation"])
        if by_place == by_occupation or (row["city"] and not by_place):
            say(name("province"), complaint(lang, "uplift_scope"))
        elif percent is not None:
            uplifts.append({"percent": percent, "province": row["province"] or None,
                            "city": row["city"] or None,
                            "occupation_code": row["occupation"] or None})
            uplift_rows.append(index)
    if form.errors:
        return Parsed(None, rate_rows, uplift_rows, form)
    assert meals is not None and transport is not None and threshold is not None
    body = {"policy_id": v["policy_id"], "effective_from": effective_from,
            "training_subsidies": rates, "uplifts": uplifts,
            "living_subsidy": {"meals_fen_per_day": meals, "transport_fen_per_day": transport},
            "attendance_threshold_percent": threshold,
            "caps": {"one_training_subsidy_per_occupation_level": v["cap_one"] == "on",
                     "max_subsidised_trainings_per_year": per_year}}
    return Parsed(body, rate_rows, uplift_rows, form)


def _duplicates(keys: list[tuple[Any, ...]]) -> list[int]:
    """Positions of keys already seen earlier in the list."""
    seen: set[tuple[Any, ...]] = set()
    again = []
    for position, key in enumerate(keys):
        if key in seen:
            again.append(position)
        seen.add(key)
    return again


def place_refusal(parsed: Parsed, refused: Refused, lang: str) -> None:
    """Puts funding's refusal beside the field (or the rate or uplift row) it concerns; what
    concerns no one field goes to ``form``."""
    form, body = parsed.form, parsed.body or {}
    complaints = refused_fields(refused)
    for loc, kind, message in complaints:
        text = complaint(lang, kind, message)
        name = None
        if loc[:1] == ("training_subsidies",) and len(loc) >= 2 and isinstance(loc[1], int) \
                and loc[1] < len(parsed.rate_rows):
            part = WIRE_RATE.get(str(loc[2]), "occupation") if len(loc) > 2 else "occupation"
            name = field_name("rate", parsed.rate_rows[loc[1]], part)
        elif loc[:1] == ("uplifts",) and len(loc) >= 2 and isinstance(loc[1], int) \
                and loc[1] < len(parsed.uplift_rows):
            part = WIRE_UPLIFT.get(str(loc[2]), "province") if len(loc) > 2 else "province"
            name = field_name("uplift", parsed.uplift_rows[loc[1]], part)
        else:
            name = WIRE_SCALAR.get(tuple(str(x) for x in loc), "form")
        form.errors.setdefault(name, text)
    if complaints:
        form.errors.setdefault("form", complaint(lang, "see_fields"))
        return
    details = refused.body if isinstance(refused.body, dict) else {}
    text = complaint(lang, refused.code, refused.message, details)
    hits: list[str] = []
    if refused.code == "uplift_above_ceiling":
        ceiling = details.get("ceiling", 50)
        hits = [field_name("uplift", row, "percent")
                for row, u in zip(parsed.uplift_rows, body.get("uplifts", []), strict=True)
                if isinstance(ceiling, int) and u["percent"] > ceiling]
    elif refused.code == "duplicate_rate":
        keys = [(r["occupation_code"], r["level"]) for r in body.get("training_subsidies", [])]
        hits = [field_name("rate", parsed.rate_rows[p], "level") for p in _duplicates(keys)]
    elif refused.code == "duplicate_uplift":
        keys = [(u["occupation_code"], u["province"], u["city"])
                for u in body.get("uplifts", [])]
        hits = [field_name("uplift", parsed.uplift_rows[p], "province")
                for p in _duplicates(keys)]
    for name in hits:
        form.errors.setdefault(name, text)
    if not hits:
        form.errors.setdefault("form", text)
