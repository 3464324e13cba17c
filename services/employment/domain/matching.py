"""Matching certified workers and vacancies: a pure function, its score explained criterion by
criterion (services/employment/README.md has the rules with worked examples).

Who fits a vacancy at all (``fits``):

- certified, by a certificate that is not revoked, in the vacancy's occupation at its minimum
  level or a higher one. Levels run 5 (初级工, basic) to 1 (高级技师): a *smaller* number is a
  *higher* level, so a worker at level 4 fits a vacancy asking for 5 or 4, never one asking
  for 3. Nobody is offered a vacancy above their certified level;
- not placed now: a worker placed by a referral and not recorded as having left (a follow-up
  saying they are no longer employed there) is **left out** of every ranking. They have a job
  the programme found them; once a follow-up records that they left, they fit again.

How those who fit are ranked (``score``, 0 to 100, the sum of three criteria):

- ``level`` (30 to 40): 30 at the minimum level, 5 more per level above it, at most 40;
- ``location`` (0 to 40): 40 when the worker works in the vacancy's city, 20 in its province,
  0 elsewhere or when their work site is not known;
- ``availability`` (0 to 20): 20 when the shift suits what the worker said at the intake survey
  (a day or rotating shift: full-time availability; a night shift: night; a flexible one: any),
  0 otherwise or when they were not surveyed.

A ranking is by score, highest first, then by id (worker id for a vacancy's matches, vacancy id
for a worker's): a total order on the candidates themselves, so the same candidates always rank
the same way whatever order they were read in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

LEVEL_BASE_POINTS = 30
LEVEL_POINTS_PER_LEVEL_ABOVE = 5
LEVEL_MAX_POINTS = 40
SAME_CITY_POINTS = 40
SAME_PROVINCE_POINTS = 20
AVAILABILITY_POINTS = 20
MAX_SCORE = LEVEL_MAX_POINTS + SAME_CITY_POINTS + AVAILABILITY_POINTS

# Which availability (the intake survey's class modes) suits which shift pattern.
SUITED_BY: Mapping[str, frozenset[str]] = {
    "day": frozenset({"full_time"}),
    "rotating": frozenset({"full_time"}),
    "night": frozenset({"night"}),
    "flexible": frozenset({"full_time", "night", "weekend"}),
}


@dataclass(frozen=True, slots=True)
class Candidate:
    """What matching knows of a worker: pseudonymous facts only."""

    worker_id: str
    levels: Mapping[str, int] = field(default_factory=dict)  # occupation -> best live level
    province: str | None = None
    city: str | None = None
    availability: frozenset[str] = frozenset()  # empty: not surveyed
    placed: bool = False


@dataclass(frozen=True, slots=True)
class Opening:
    """What matching knows of an open vacancy."""

    vacancy_id: str
    occupation_code: str
    minimum_level: int
    province: str
    city: str
    shift_pattern: str


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    points: int
    max_points: int
    why: str


@dataclass(frozen=True, slots=True)
class Match:
    vacancy_id: str
    worker_id: str
    score: int
    criteria: tuple[Criterion, ...]


def fits(opening: Opening, candidate: Candidate) -> bool:
    """Certified in the occupation at the minimum level or higher, and not placed now."""
    level = candidate.levels.get(opening.occupation_code)
    return level is not None and level <= opening.minimum_level and not candidate.placed


def _level(opening: Opening, level: int) -> Criterion:
    above = opening.minimum_level - level
    points = min(LEVEL_MAX_POINTS, LEVEL_BASE_POINTS + LEVEL_POINTS_PER_LEVEL_ABOVE * above)
    why = (f"certified at level {level}, the level asked" if above == 0 else
           f"certified at level {level}, {above} above the level {opening.minimum_level} asked")
    return Criterion("level", points, LEVEL_MAX_POINTS, why)


def _location(opening: Opening, candidate: Candidate) -> Criterion:
    if candidate.province is None:
        return Criterion("location", 0, SAME_CITY_POINTS, "work site not known")
    if (candidate.province, candidate.city) == (opening.province, opening.city):
        return Criterion("location", SAME_CITY_POINTS, SAME_CITY_POINTS,
                         f"works in {opening.city}, where the vacancy is")
    if candidate.province == opening.province:
        return Criterion("location", SAME_PROVINCE_POINTS, SAME_CITY_POINTS,
                         f"works in {opening.province}, the vacancy's province")
    return Criterion("location", 0, SAME_CITY_POINTS, "works in another province")


def _availability(opening: Opening, candidate: Candidate) -> Criterion:
    if not candidate.availability:
        return Criterion("availability", 0, AVAILABILITY_POINTS, "not surveyed")
    suited = SUITED_BY.get(opening.shift_pattern, frozenset())
    if candidate.availability & suited:
        return Criterion("availability", AVAILABILITY_POINTS, AVAILABILITY_POINTS,
                         f"available for a {opening.shift_pattern} shift")
    return Criterion("availability", 0, AVAILABILITY_POINTS,
                     f"said they are available {', '.join(sorted(candidate.availability))}, "
                     f"not for a {opening.shift_pattern} shift")


def score(opening: Opening, candidate: Candidate) -> Match | None:
    """The candidate's score for the opening, criterion by criterion; None when they do not
    fit (see ``fits``)."""
    if not fits(opening, candidate):
        return None
    criteria = (_level(opening, candidate.levels[opening.occupation_code]),
                _location(opening, candidate), _availability(opening, candidate))
    return Match(opening.vacancy_id, candidate.worker_id, sum(c.points for c in criteria),
                 criteria)


def rank_workers(opening: Opening, candidates: Iterable[Candidate]) -> list[Match]:
    """The candidates who fit the opening, best first (score, then worker id)."""
    matches = (score(opening, c) for c in candidates)
    return sorted((m for m in matches if m is not None), key=lambda m: (-m.score, m.worker_id))


def rank_vacancies(candidate: Candidate, openings: Iterable[Opening]) -> list[Match]:
    """The openings the candidate fits, best first (score, then vacancy id)."""
    matches = (score(o, candidate) for o in openings)
    return sorted((m for m in matches if m is not None), key=lambda m: (-m.score, m.vacancy_id))
