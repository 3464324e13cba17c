"""The media centre: the programme's statistics as bar charts, by destination, occupation,
gender and level. Only counts of groups are read (the statistics routes answer no worker);
small groups are suppressed (console/charts.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from console import charts
from console.sessions import Session
from console.web import Current, read, render, require_role

router = APIRouter(prefix="/media")
ROLE = "media"
DIMENSIONS = ("destination", "occupation", "gender", "level")
# How each dimension groups enrolment's rows (by work site, occupation, gender, target level)
# and assessment's (by occupation and level; it knows no destination or gender).
ENROLMENT_GROUPS = {"destination": charts.destination,
                    "occupation": charts.field("occupation_code"),
                    "gender": charts.field("gender"), "level": charts.field("level")}
CERTIFICATE_GROUPS = {"occupation": charts.field("occupation_code"),
                      "level": charts.field("level")}
# Training's class counts (by destination, occupation, level and state; it knows no gender).
CLASS_GROUPS = {"destination": charts.destination,
                "occupation": charts.field("occupation_code"), "level": charts.field("level")}


async def programme_charts(request: Request, session: Session) -> dict[str, Any]:
    """Per dimension: enrolments, certificates and placements as bars, and what a service
    refused (its reason, for the page to say)."""
    enrolments, enrolment_problem = await read(request, session, "enrolment",
                                               "/statistics/enrolments")
    certificates, certificate_problem = await read(request, session, "assessment",
                                                   "/statistics/certificates")
    classes, class_problem = await read(request, session, "training", "/statistics/classes")
    sections: list[dict[str, Any]] = []
    problems = [p for p in (enrolment_problem, certificate_problem, class_problem) if p]
    for dimension in DIMENSIONS:
        outcomes, outcome_problem = await read(request, session, "employment",
                                               "/statistics/outcomes", {"by": dimension})
        if outcome_problem:
            problems.append(outcome_problem)
        section: dict[str, Any] = {"dimension": dimension, "charts": []}
        if enrolments is not None:
            section["charts"].append(("enrolled", charts.bars(charts.summed(
                enrolments, ENROLMENT_GROUPS[dimension], "workers"))))
        if certificates is not None and dimension in CERTIFICATE_GROUPS:
            section["charts"].append(("certified", charts.bars(charts.summed(
                certificates, CERTIFICATE_GROUPS[dimension], "certificates"))))
        if classes is not None and dimension in CLASS_GROUPS:
            section["charts"].extend(training_charts(classes, CLASS_GROUPS[dimension]))
        if outcomes is not None:
            section["charts"].append(("placed", placements(outcomes)))
        sections.append(section)
    return {"sections": sections, "problems": list(dict.fromkeys(problems)),
            "smallest": charts.SMALLEST_GROUP}


def training_charts(groups: list[dict[str, Any]], group: Callable[[Mapping[str, Any]], str]
                    ) -> list[tuple[str, list[charts.Bar]]]:
    """Classes run (every state), and trainees who completed a class meeting its attendance
    threshold. A count of classes describes no person, so every one is shown; the trainees
    are suppressed below the smallest group like every count of workers."""
    completed = [g for g in groups if g.get("state") == "completed"]
    return [("classes", charts.bars(charts.summed(groups, group, "classes"), smallest=1)),
            ("trained", charts.bars(charts.summed(completed, group, "met_threshold")))]


def placements(outcomes: list[dict[str, Any]]) -> list[charts.Bar]:
    """Employment's groups as it answered them: a group it suppressed stays suppressed; the
    others' bars are the workers placed (the rate is in the label's title)."""
    shown = [g["placed"] for g in outcomes if not g.get("suppressed")]
    largest = max(shown, default=0)
    return [charts.Bar(str(g["group"]), None, 0.0) if g.get("suppressed") else
            charts.Bar(str(g["group"]), int(g["placed"]),
                       round(100 * g["placed"] / largest, 1) if largest else 0.0)
            for g in outcomes]


@router.get("", response_class=HTMLResponse)
async def home(request: Request, session: Current) -> Response:
    require_role(session, ROLE)
    return render(request, "media.html", session, **await programme_charts(request, session))
