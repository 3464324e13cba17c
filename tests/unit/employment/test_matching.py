"""Matching: who fits, the score criterion by criterion, and the order of a ranking."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from services.employment.domain.matching import (
    MAX_SCORE,
    Candidate,
    Opening,
    fits,
    rank_vacancies,
    rank_workers,
    score,
)

FUKANG = Opening("v-1", "electrician", minimum_level=5, province="新疆", city="阜康市",
                 shift_pattern="day")


def test_a_worker_at_the_level_asked_in_the_same_city_and_available_scores_90() -> None:
    worker = Candidate("w-1", {"electrician": 5}, "新疆", "阜康市", frozenset({"full_time"}))
    match = score(FUKANG, worker)
    assert match is not None
    assert [(c.name, c.points) for c in match.criteria] == \
        [("level", 30), ("location", 40), ("availability", 20)]
    assert match.score == 90


def test_each_level_above_the_one_asked_adds_five_up_to_forty() -> None:
    levels = {lvl: score(FUKANG, Candidate("w", {"electrician": lvl})) for lvl in (5, 4, 3, 1)}
    assert {lvl: m.criteria[0].points for lvl, m in levels.items() if m} == \
        {5: 30, 4: 35, 3: 40, 1: 40}


def test_the_province_counts_half_and_elsewhere_nothing() -> None:
    def location(province: str | None, city: str | None) -> int:
        match = score(FUKANG, Candidate("w", {"electrician": 5}, province, city))
        assert match is not None
        return match.criteria[1].points

    assert (location("新疆", "阜康市"), location("新疆", "乌鲁木齐市"), location("上海", "普陀区"),
            location(None, None)) == (40, 20, 0, 0)


def test_a_night_shift_suits_night_availability_only() -> None:
    night = Opening("v-2", "electrician", 5, "新疆", "阜康市", "night")
    points = {mode: score(night, Candidate("w", {"electrician": 5},
                                           availability=frozenset({mode}))).criteria[2].points
              for mode in ("night", "full_time", "weekend")}
    assert points == {"night": 20, "full_time": 0, "weekend": 0}


def test_nobody_fits_below_the_level_or_in_another_occupation_or_while_placed() -> None:
    assert not fits(Opening("v", "electrician", 3, "新疆", "阜康市", "day"),
                    Candidate("w", {"electrician": 4}))
    assert not fits(FUKANG, Candidate("w", {"welder": 1}))
    assert not fits(FUKANG, Candidate("w", {"electrician": 5}, placed=True))
    assert fits(FUKANG, Candidate("w", {"electrician": 5}))


def test_ties_are_broken_by_worker_id() -> None:
    same = [Candidate(w, {"electrician": 5}) for w in ("w-c", "w-a", "w-b")]
    assert [m.worker_id for m in rank_workers(FUKANG, same)] == ["w-a", "w-b", "w-c"]


# -- properties -------------------------------------------------------------------------------

ids = st.text(alphabet="abcdef0123456789", min_size=1, max_size=6)
places = st.sampled_from([("新疆", "阜康市"), ("新疆", "乌鲁木齐市"), ("上海", "普陀区"),
                          (None, None)])
occupations = st.sampled_from(["electrician", "welder", "maternity_nurse"])
levels = st.integers(min_value=1, max_value=5)
modes = st.frozensets(st.sampled_from(["weekend", "night", "full_time"]))


@st.composite
def candidates(draw: st.DrawFn) -> list[Candidate]:
    worker_ids = draw(st.lists(ids, unique=True, max_size=25))
    made = []
    for worker_id in worker_ids:
        province, city = draw(places)
        made.append(Candidate(worker_id, draw(st.dictionaries(occupations, levels, max_size=3)),
                              province, city, draw(modes), draw(st.booleans())))
    return made


@st.composite
def openings(draw: st.DrawFn) -> Opening:
    province, city = draw(places.filter(lambda p: p[0] is not None))
    return Opening(draw(ids), draw(occupations), draw(levels), province, city,
                   draw(st.sampled_from(["day", "night", "rotating", "flexible"])))


@settings(max_examples=200, deadline=None)
@given(openings(), candidates(), st.randoms(use_true_random=False))
def test_a_ranking_depends_on_the_candidates_not_their_order(
    opening: Opening, workers: list[Candidate], rng: random.Random
) -> None:
    shuffled = list(workers)
    rng.shuffle(shuffled)
    assert rank_workers(opening, workers) == rank_workers(opening, shuffled)


@settings(max_examples=200, deadline=None)
@given(openings(), candidates())
def test_a_ranking_is_best_first_and_offers_nobody_above_their_level_nor_the_placed(
    opening: Opening, workers: list[Candidate]
) -> None:
    ranked = rank_workers(opening, workers)
    by_id = {w.worker_id: w for w in workers}
    keys = [(-m.score, m.worker_id) for m in ranked]
    assert keys == sorted(keys)
    for match in ranked:
        worker = by_id[match.worker_id]
        assert worker.levels[opening.occupation_code] <= opening.minimum_level
        assert not worker.placed
        assert 0 <= match.score <= MAX_SCORE
        assert match.score == sum(c.points for c in match.criteria)
        assert all(0 <= c.points <= c.max_points for c in match.criteria)
    assert {m.worker_id for m in ranked} == {w.worker_id for w in workers if fits(opening, w)}


@settings(max_examples=200, deadline=None)
@given(candidates(), st.lists(openings(), max_size=15, unique_by=lambda o: o.vacancy_id))
def test_a_workers_vacancies_score_as_the_vacancies_matches_do(
    workers: list[Candidate], vacancies: list[Opening]
) -> None:
    for worker in workers:
        ranked = rank_vacancies(worker, vacancies)
        keys = [(-m.score, m.vacancy_id) for m in ranked]
        assert keys == sorted(keys)
        for match in ranked:
            opening = next(o for o in vacancies if o.vacancy_id == match.vacancy_id)
            assert [m for m in rank_workers(opening, [worker])] == [match]
        if worker.placed:
            assert ranked == []


def test_the_readmes_worked_examples() -> None:
    """services/employment/README.md, 'Worked examples', as the function scores them."""
    workers = [
        Candidate("A", {"electrician": 4}, "新疆", "阜康市", frozenset({"night"})),
        Candidate("B", {"electrician": 3}, "新疆", "乌鲁木齐市", frozenset({"full_time"})),
        Candidate("C", {"electrician": 1}, "上海", "普陀区", frozenset({"night"})),
        Candidate("D", {"electrician": 5}, "新疆", "阜康市", frozenset({"night"})),
        Candidate("E", {"welder": 2}, "新疆", "阜康市", frozenset({"night"})),
        Candidate("F", {"electrician": 4}, "新疆", "阜康市", frozenset({"night"}), placed=True),
    ]

    def ranked(shift: str) -> list[tuple[str, int]]:
        opening = Opening("v", "electrician", 4, "新疆", "阜康市", shift)
        return [(m.worker_id, m.score) for m in rank_workers(opening, workers)]

    night = Opening("v", "electrician", 4, "新疆", "阜康市", "night")
    assert [c.points for c in score(night, workers[1]).criteria] == [35, 20, 0]
    assert [c.points for c in score(night, workers[2]).criteria] == [40, 0, 20]
    assert ranked("night") == [("A", 90), ("C", 60), ("B", 55)]
    assert ranked("flexible") == [("A", 90), ("B", 75), ("C", 60)]
    assert ranked("day") == [("B", 75), ("A", 70), ("C", 40)]
