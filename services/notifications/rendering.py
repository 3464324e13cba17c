"""Render a notification from its template file, in the recipient's language.

Templates live in ``templates/<locale>/<kind>.txt``: the first line is the subject (an email's
subject; an SMS sends only the body), the rest is the body, with ``${name}``-style
placeholders (``string.Template``). ``labels.json`` beside them names occupations, levels,
modes, session kinds and objection grounds. The recipient's language is tried first, then
zh-CN, then English; a template missing in one language falls back to the next.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_LOCALE = "zh-CN"
FALLBACK_LOCALE = "en"


class TemplateMissing(LookupError):
    """No language in the chain has a template for this kind."""


@dataclass(frozen=True, slots=True, repr=False)
class Rendered:
    locale: str
    subject: str
    body: str

    def __repr__(self) -> str:  # the text may carry a name: keep it out of tracebacks
        return f"Rendered(locale={self.locale!r}, {len(self.body)} chars)"


def locale_chain(preferred: str | None) -> list[str]:
    chain = [preferred] if preferred else []
    if preferred and "-" not in preferred and preferred.lower() == "zh":
        chain = [DEFAULT_LOCALE]
    return list(dict.fromkeys([*chain, DEFAULT_LOCALE, FALLBACK_LOCALE]))


@functools.cache
def _labels(root: Path, locale: str) -> dict[str, dict[str, str]]:
    path = root / locale / "labels.json"
    return json.loads(path.read_text("utf-8")) if path.exists() else {}


def _label(root: Path, locale: str, group: str, key: object) -> str:
    for candidate in (locale, FALLBACK_LOCALE):
        found = _labels(root, candidate).get(group, {}).get(str(key))
        if found:
            return found
    return str(key)


def format_yuan(fen: int) -> str:
    """Integer fen as yuan with two decimals: 123456 -> '1,234.56'."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:,}.{cents:02d}"


def _derived(root: Path, locale: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Human words for the codes in ``params``, in ``locale``."""
    out: dict[str, Any] = {}
    if "occupation_code" in params:
        out["occupation"] = _label(root, locale, "occupations", params["occupation_code"])
    if "level" in params:
        out["level_name"] = _label(root, locale, "levels", params["level"])
    if "mode" in params:
        out["mode_label"] = _label(root, locale, "modes", params["mode"])
    if "session_kind" in params:
        out["session_kind_label"] = _label(root, locale, "session_kinds", params["session_kind"])
    if "ground" in params:
        out["ground_label"] = _label(root, locale, "grounds", params["ground"])
    if "amount_fen" in params:
        out["amount_yuan"] = format_yuan(int(params["amount_fen"]))
    sessions = params.get("sessions")
    if isinstance(sessions, list):
        out["session_count"] = len(sessions)
        out["session_lines"] = "\n".join(
            f"{s['date']} {s['start']}–{s['end']} "
            f"{_label(root, locale, 'session_kinds', s['kind'])}" for s in sessions)
    if isinstance(params.get("met_threshold"), bool):
        out["met_threshold_label"] = _label(root, locale, "met_threshold",
                                            str(params["met_threshold"]).lower())
    return out


def render(kind: str, params: Mapping[str, Any], *, locales: Sequence[str],
           personal: Mapping[str, str] | None = None, root: Path = TEMPLATES) -> Rendered:
    """The message for ``kind`` in the first language of ``locales`` that has a template.

    ``personal`` (e.g. the worker's name) is given at send time only and never stored.
    """
    for locale in locales:
        path = root / locale / f"{kind}.txt"
        if not path.exists():
            continue
        subject, _, body = path.read_text("utf-8").partition("\n")
        values = {**params, **_derived(root, locale, params), **(personal or {})}
        return Rendered(locale, Template(subject).substitute(values).strip(),
                        Template(body).substitute(values).strip())
    raise TemplateMissing(f"no template for {kind} in {', '.join(locales)}")
