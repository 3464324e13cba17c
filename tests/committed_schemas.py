"""Validation of event data against the schemas committed in ``schemas/``, formats asserted.

JSON Schema 2020-12 only annotates ``format`` by default; integrators' validators often assert
it. These checks assert every format the committed schemas use, with the checkers that the
``format-nongpl`` extra of ``jsonschema`` brings (pinned in pyproject.toml), so an event whose
data does not mean what its schema declares is caught here first.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).parents[1] / "schemas"
FORMAT_CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER


def formats_used(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["format"]} if isinstance(value.get("format"), str) else set()
        return found.union(*(formats_used(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(formats_used(v) for v in value))
    return set()


@cache
def committed_validator(ce_type: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{ce_type}.json").read_text())
    unchecked = formats_used(schema) - set(FORMAT_CHECKER.checkers)
    # a format without a checker would pass anything: the extra is missing, or a new format
    assert not unchecked, f"{ce_type}: no checker for formats {unchecked}"
    return jsonschema.Draft202012Validator(schema, format_checker=FORMAT_CHECKER)


def schema_errors(ce_type: str, data: Any) -> list[str]:
    """Why ``data`` does not validate against the committed schema of ``ce_type``; [] if it
    does."""
    return [f"{ce_type} {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in committed_validator(ce_type).iter_errors(data)]
