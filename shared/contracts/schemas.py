"""JSON Schemas of the event contracts, committed in ``schemas/``, and the compatibility check.

A contract may only change compatibly: new optional fields. Removing or retyping a field, making
a new field required, or dropping an event type breaks the readers of old events; such a change
is a new event version (a new class with ``@contract(service, version=n+1)``).

One narrowing is allowed: a size bound (``maxLength``, ``maxItems``) on a string or list that
had none. Such bounds are chosen above anything a command ever let through
(shared/contracts/bounds.py), so the events already stored still read; changing a bound that
exists is still a change of type.

One correction is allowed too: a local time once declared ``format: time`` (RFC 3339 full-time,
which requires an offset no event ever carried) now declared by the pattern every stored value
meets (``LOCAL_TIME_PATTERN``). Readers that asserted the format rejected those events anyway.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.contracts.base import registered_events
from shared.contracts.common import LOCAL_TIME_PATTERN

_IGNORED_KEYS = {"description", "title", "examples", "default"}


def current_schemas() -> dict[str, dict[str, Any]]:
    schemas = {}
    for ce_type, model in registered_events().items():
        schema = model.model_json_schema()
        schema["$id"] = f"urn:songji:schema:{ce_type}"
        schema["x-ce-type"] = ce_type
        schemas[ce_type] = schema
    return schemas


def _dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


ASYNCAPI_FILE = "asyncapi.json"


def write_schemas(folder: Path) -> list[Path]:
    """One schema file per event type, plus the AsyncAPI document that lists them all."""
    from shared.contracts.asyncapi import write_asyncapi

    folder.mkdir(parents=True, exist_ok=True)
    write_asyncapi(folder / ASYNCAPI_FILE)
    written = []
    for ce_type, schema in current_schemas().items():
        path = folder / f"{ce_type}.json"
        path.write_text(_dump(schema))
        written.append(path)
    return written


def _shape(schema: Any) -> Any:
    """The schema without documentation keys: what decides whether data validates."""
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k not in _IGNORED_KEYS}
    if isinstance(schema, list):
        return [_shape(v) for v in schema]
    return schema


_SIZE_BOUNDS = ("maxLength", "maxItems")


def _is_local_time_correction(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return (old.get("format") == "time" and "format" not in new and "pattern" not in old
            and new.get("pattern") == LOCAL_TIME_PATTERN)


def _without_new_bounds(old: Any, new: Any) -> Any:
    """``new`` without the size bounds that ``old`` lacks at the same place, and with a local
    time's corrected declaration put back as it was."""
    if isinstance(old, dict) and isinstance(new, dict):
        if _is_local_time_correction(old, new):
            new = {k: v for k, v in new.items() if k != "pattern"} | {"format": "time"}
        return {k: _without_new_bounds(old.get(k), v) for k, v in new.items()
                if not (k in _SIZE_BOUNDS and k not in old)}
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [_without_new_bounds(o, n) for o, n in zip(old, new, strict=True)]
    return new


def _same_shape(old: Any, new: Any) -> bool:
    return _shape(old) == _shape(_without_new_bounds(old, new))


def _object_problems(where: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_prop in old_props.items():
        if name not in new_props:
            problems.append(f"{where}: field '{name}' was removed")
        elif not _same_shape(old_prop, new_props[name]):
            problems.append(f"{where}: field '{name}' changed type")
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(newly_required):
        problems.append(f"{where}: field '{name}' became required")
    return problems


def compatibility_problems(ce_type: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    problems = _object_problems(ce_type, old, new)
    old_defs, new_defs = old.get("$defs", {}), new.get("$defs", {})
    for name, old_def in old_defs.items():
        if name not in new_defs:
            problems.append(f"{ce_type}: nested type '{name}' was removed")
        elif "properties" in old_def:
            problems.extend(_object_problems(f"{ce_type}.{name}", old_def, new_defs[name]))
        elif not _same_shape(old_def, new_defs[name]):
            problems.append(f"{ce_type}: nested type '{name}' changed")
    return problems


def check_schemas(folder: Path) -> list[str]:
    """Every problem between the committed schemas and the contracts in the code."""
    current = current_schemas()
    problems: list[str] = []
    from shared.contracts.asyncapi import asyncapi_document, render

    asyncapi = folder / ASYNCAPI_FILE
    if not asyncapi.exists() or asyncapi.read_text() != render(asyncapi_document()):
        problems.append(f"{ASYNCAPI_FILE} is not up to date (run `make schemas`)")
    committed = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("songji.*.json"))}
    for ce_type, old in committed.items():
        new = current.get(ce_type)
        if new is None:
            problems.append(f"{ce_type}: event type was removed (publish a new version instead)")
            continue
        breaking = compatibility_problems(ce_type, old, new)
        problems.extend(breaking)
        if not breaking and _dump(old) != _dump(new):
            problems.append(f"{ce_type}: changed compatibly but not regenerated "
                            "(run `make schemas`)")
    for ce_type in sorted(set(current) - set(committed)):
        problems.append(f"{ce_type}: no committed schema (run `make schemas`)")
    return problems
