"""The demo's pure pieces for many classes: requests run a bounded number at a time
(``client.each``), those about one class are spread out (``steps.interleaved``), and the
printed summary names a few classes and totals the rest."""

from __future__ import annotations

import asyncio

import pytest

from songji.demo.client import DemoError, each
from songji.demo.steps import interleaved
from songji.demo.summary import _classes


async def test_each_keeps_the_order_and_the_bound() -> None:
    running, most = 0, 0

    async def job(n: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.001 * (n % 3))
        running -= 1
        return n * n

    assert await each(4, range(50), job) == [n * n for n in range(50)]
    assert most == 4
    assert await each(4, [], job) == []


async def test_each_stops_at_the_first_failure_and_raises_it() -> None:
    started = []

    async def job(n: int) -> None:
        started.append(n)
        await asyncio.sleep(0)
        if n == 3:
            raise DemoError("worker #3 refused")
        await asyncio.sleep(0.01)

    with pytest.raises(DemoError, match="worker #3 refused"):
        await each(2, range(100), job)
    assert len(started) < 100  # the rest were never started


def a_class(n: int, course: str, trainees: int, met: int) -> dict:
    occupation, level, mode, sessions = (("electrician", 4, "night", 11) if course == "elec"
                                         else ("crop_protection_worker", 5, "weekend", 8))
    return {"class_id": f"fk2025-{course}-1-{n:03d}", "course": course,
            "occupation": occupation, "level": level, "mode": mode, "sessions": sessions,
            "trainees": trainees, "met": met, "threshold": 80}


def test_a_few_classes_are_each_shown_with_a_total_per_course() -> None:
    lines = _classes([a_class(1, "elec", 45, 40), a_class(2, "elec", 44, 34),
                      a_class(1, "crop", 60, 46)])
    assert len(lines) == 5
    assert lines[0].startswith("  fk2025-elec-1-001    electrician level 4, night class, "
                               "11 sessions: 45 trainees, 40 met")
    assert "2 classes" in lines[3] and "night classes" in lines[3]
    assert "89 trainees, 74 met the 80% attendance threshold, 15 below" in lines[3]
    assert lines[4] == "  total: 149 trainees in 3 classes"
    assert _classes([a_class(1, "elec", 7, 5), a_class(1, "crop", 5, 4)])[-1] == \
        "  total: 12 trainees"


def test_many_classes_show_a_few_then_each_course_in_total() -> None:
    classes = ([a_class(n, "elec", 60, 50) for n in range(1, 201)]
               + [a_class(n, "crop", 59, 49) for n in range(1, 136)])
    lines = _classes(classes)
    assert len(lines) < 10
    assert sum("fk2025-" in line for line in lines) == 3
    assert "... and 332 more classes" in lines[3]
    assert "200 classes" in lines[4] and "12000 trainees, 10000 met" in lines[4]
    assert "135 classes" in lines[5] and "7965 trainees, 6615 met" in lines[5]
    assert lines[6] == "  total: 19965 trainees in 335 classes"


def test_interleaved_takes_the_groups_in_turn() -> None:
    assert interleaved([[1, 2, 3], [4], [], [5, 6]]) == [1, 4, 5, 2, 6, 3]
    assert interleaved([]) == []
