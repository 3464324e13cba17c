"""What the console's row editors share (a class's sessions, a policy's rates and uplifts):
rows read from indexed form fields (``session-0-date``), adding or removing a row, and a
service's refusal placed next to the field it concerns, in the user's language.

Adding and removing rows are form posts too (a button named ``add_<prefix>`` or
``remove_<prefix>`` with the row's index), so the editors work without JavaScript; htmx only
spares the page a reload.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from console import i18n
from console.services import Refused

Row = dict[str, str]


def field_name(prefix: str, index: int, name: str) -> str:
    return f"{prefix}-{index}-{name}"


def read_rows(fields: Mapping[str, str], prefix: str, names: Sequence[str]) -> list[Row]:
    """The rows in the order of their indices, each value stripped; a missing value is ''."""
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d{{1,4}})-")
    indices = sorted({int(m.group(1)) for k in fields if (m := pattern.match(k))})
    return [{n: fields.get(field_name(prefix, i, n), "").strip() for n in names}
            for i in indices]


def is_blank(row: Row, ignore: Sequence[str] = ()) -> bool:
    """A row nothing was typed in (fields with a default, a select say, are ``ignore``d)."""
    return all(not v for k, v in row.items() if k not in ignore)


def edit_rows(fields: Mapping[str, str], prefix: str, rows: list[Row],
              blank: Row) -> tuple[list[Row], int | None] | None:
    """The rows after the form's add or remove button, and the row to focus; None when the
    form was not an edit of these rows. Removing the last row leaves one blank row."""
    if f"add_{prefix}" in fields:
        return [*rows, dict(blank)], len(rows)
    removed = fields.get(f"remove_{prefix}")
    if removed is None:
        return None
    index = int(removed) if removed.isdigit() else -1
    kept = [r for i, r in enumerate(rows) if i != index]
    return (kept or [dict(blank)]), None


NOT_FIELDS = frozenset({"form", "sessions", "rates", "uplifts"})  # errors of a whole form/editor


def first_refused(errors: Mapping[str, str]) -> str | None:
    """The first field with a refusal beside it: where the page puts the focus."""
    return next((name for name in errors if name not in NOT_FIELDS), None)


def show_refusal(errors: Mapping[str, str], focus: str | None) -> str:
    """htmx's swap for a page that comes back refused: scrolled to the field in focus (or to
    the first refusal), where a boosted page would otherwise show its top."""
    target = "[autofocus]" if focus else f"#err-{next(iter(errors))}"
    return f"innerHTML show:{target}:top"


def refused_fields(refused: Refused) -> list[tuple[tuple[Any, ...], str, str]]:
    """A 422's complaints as (where in the body, type, message); none for other refusals."""
    body = refused.body
    if refused.status != 422 or not isinstance(body, dict) or \
            not isinstance(body.get("detail"), list):
        return []
    found = []
    for entry in body["detail"]:
        loc = tuple(entry.get("loc", ()))
        found.append((loc[1:] if loc[:1] == ("body",) else loc, str(entry.get("type", "")),
                      str(entry.get("msg", ""))))
    return found


def complaint(lang: str, kind: str, message: str = "",
              details: Mapping[str, Any] | None = None) -> str:
    """A field's refusal in the user's language: the console's own words for the kind when
    it has them (a refusal code, a validation type; ``{name}``s filled from the refusal's
    ``details``), else the service's sentence after a general 'filled in wrongly'."""
    for key in (f"refused.{kind}", f"invalid.{kind}"):
        if key in i18n.WORDS:
            words = i18n.translate(lang, key)
            try:
                return words.format_map(dict(details or {}))
            except (KeyError, IndexError, ValueError):
                return words
    general = i18n.translate(lang, "invalid.general")
    return f"{general}：{message}" if lang == "zh-CN" else f"{general}: {message}"
