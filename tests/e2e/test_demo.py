"""`make run` in a shortened form: `songji run --workers 110` as a process, as CI runs it: enough
workers for the electricians to fill two classes (at most 60 trainees each) and the crop
protection workers one. Its printed totals are checked against numbers worked out here by hand
from the same seed: the scenario gives only the inputs (who is in which class, who came to
which session for how long, their scores); the thresholds, passes and fen amounts below are
this test's own arithmetic, not the services'."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared.auth.tokens import ENV_INLINE
from songji.demo.scenario import build

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

WORKERS, SEED = 110, 11

# The classes as the article and the policy describe them, written out by hand.
ELECTRICIAN_SESSIONS, ELECTRICIAN_MINUTES = 11, 150  # weekday evenings 19:30-22:00
CROP_SESSIONS, CROP_MINUTES = 8, 180  # 4 weekend days x (09:00-12:00, 15:00-18:00)
ELECTRICIAN_L4_UPLIFTED_FEN = 150_000 * 150 // 100  # 1,500 yuan + 50% = 2,250.00
CROP_L5_UPLIFTED_FEN = 100_000 * 150 // 100  # 1,000 yuan + 50% = 1,500.00
LIVING_FEN_PER_DAY = 60_00 + 20_00  # meals + transport


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def expected() -> dict:
    scenario = build(WORKERS, SEED)
    out: dict = {"classes": {}, "courses": {}, "women": 0, "women_certified": 0,
                 "paid_workers": 0}
    living_due, living_lines, passed_total = 0, 0, 0
    attended_workers = []
    training_due = 0
    certified_workers: list = []
    for key, sessions, minutes_each, level, rate in (
            ("electrician", ELECTRICIAN_SESSIONS, ELECTRICIAN_MINUTES, 4,
             ELECTRICIAN_L4_UPLIFTED_FEN),
            ("crop_protection", CROP_SESSIONS, CROP_MINUTES, 5, CROP_L5_UPLIFTED_FEN)):
        required = sessions * minutes_each
        course = {"trainees": 0, "met": 0, "passed": 0, "level": level}
        for plan in scenario.of_course(key):
            assert len(plan.sessions) == sessions
            trainees = [w for w in scenario.workers if w.class_id == plan.class_id]
            met = [w for w in trainees if sum(w.minutes) * 100 >= 80 * required]
            passed = [w for w in met if w.theory_score >= 60 and w.practical_score >= 60]
            out["classes"][plan.class_id] = {"trainees": len(trainees), "met": len(met)}
            for name, group in (("trainees", trainees), ("met", met), ("passed", passed)):
                course[name] += len(group)
            training_due += rate * len(passed)
            certified_workers += passed
            passed_total += len(passed)
            for w in trainees:
                days = len({plan.sessions[i].day for i, m in enumerate(w.minutes) if m > 0})
                if days:
                    living_lines += 1
                    living_due += days * LIVING_FEN_PER_DAY
            out["women_certified"] += sum(1 for w in passed if w.gender == "female")
        out["courses"][key] = course
    out["women"] = sum(1 for w in scenario.workers if w.gender == "female")
    # the scenario's own workers, in its order: the first two who attended anything have
    # their living subsidy withheld (objection upheld) and rejected by the bank
    for w in scenario.workers:
        days = len({scenario.classes[w.class_id].sessions[i].day
                    for i, m in enumerate(w.minutes) if m > 0})
        if days:
            attended_workers.append(days * LIVING_FEN_PER_DAY)
    # the HR bureau sizes the budget with the grant calculator: everyone attends every day
    # (11 evenings; 4 weekend days) and is certified
    electricians = out["courses"]["electrician"]["trainees"]
    allocated = (electricians * (ELECTRICIAN_L4_UPLIFTED_FEN + 11 * LIVING_FEN_PER_DAY)
                 + (WORKERS - electricians) * (CROP_L5_UPLIFTED_FEN + 4 * LIVING_FEN_PER_DAY))
    out.update(allocated=allocated, failed_fen=attended_workers[1])
    # after the certificate: one in five certified workers (index 4, 9, ...) does not consent
    # to a referral, employers decline one referred in seven (index 3, 10, ...), one placed
    # worker in six (index 5, 11, ...) has left by the 3-month follow-up
    referred = [w for w in certified_workers if w.index % 5 != 4]
    placed = [w for w in referred if w.index % 7 != 3]
    still = [w for w in placed if w.index % 6 != 5]
    out.update(funnel=(WORKERS, len(certified_workers), len(referred), len(placed),
                       len(still)))
    women = {w.index for w in scenario.workers if w.gender == "female"}
    out.update(women_placed=sum(1 for w in placed if w.index in women),
               women_not_hired=sum(1 for w in referred if w.index % 7 == 3
                                   and w.index in women),
               # a placement's 1-, 3- and 6-month notices wait for their (real) day; the 1-
               # and 3-month follow-ups are recorded before it (on the test clock), which
               # cancels theirs, and so is the 6-month one of a worker who left
               follow_ups_pending=len(still),
               follow_ups_cancelled=2 * len(placed) + (len(placed) - len(still)))
    out.update(training_due=training_due, training_lines=passed_total,
               living_due=living_due, living_lines=living_lines,
               living_paid=living_due - attended_workers[0] - attended_workers[1],
               paid_workers=living_lines - 2, certified=passed_total,
               class_count=len(scenario.classes))
    return out


def test_make_run_shortened(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != ENV_INLINE}
    env["SONGJI_STATE_DIR"] = str(tmp_path)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "songji"), "run", "--workers", str(WORKERS),
         "--seed", str(SEED)], capture_output=True, text=True, env=env, timeout=400)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    want = expected()

    # the electricians fill two classes, the crop protection workers one: each is shown
    assert len(want["classes"]) == want["class_count"] == 3, want["classes"]
    for class_id, c in want["classes"].items():
        line = re.search(rf"{class_id} .*: (\d+) trainees, (\d+) met the 80% attendance "
                         r"threshold, (\d+) below", output)
        assert line, (class_id, output)
        assert tuple(map(int, line.groups())) == (c["trainees"], c["met"],
                                                  c["trainees"] - c["met"]), class_id
    electricians = want["courses"]["electrician"]
    assert re.search(rf"2 classes +electrician level 4, night classes, 11 sessions: "
                     rf"{electricians['trainees']} trainees, {electricians['met']} met", output)
    assert f"total: {WORKERS} trainees in 3 classes" in output
    for occupation, key in (("electrician", "electrician"),
                            ("crop_protection_worker", "crop_protection")):
        c = want["courses"][key]
        if c["met"]:
            assert (f"{occupation} level {c['level']} ") in output
            assert re.search(rf"{occupation} level {c['level']} .*: {c['passed']} certified of "
                             rf"{c['met']} assessed, {c['met'] - c['passed']} failed", output)

    institution = re.search(r"institution inst-1 +training subsidy +(\d+) lines +due +([\d,.]+)"
                            r" +paid +([\d,.]+)", output)
    assert institution, output
    assert institution.groups() == (str(want["training_lines"]), yuan(want["training_due"]),
                                    yuan(want["training_due"]))
    workers = re.search(r"workers \((\d+)\) +living subsidy +(\d+) lines +due +([\d,.]+) +paid +"
                        r"([\d,.]+)", output)
    assert workers, output
    assert workers.groups() == (str(want["living_lines"]), str(want["living_lines"]),
                                yuan(want["living_due"]), yuan(want["living_paid"]))
    # the withheld line goes back to the fund; the one the bank rejected is due again, still
    # charged to its fund (committed), for a new batch to pay; nothing was recovered
    paid = want["training_due"] + want["living_paid"]
    assert (f"allocated {yuan(want['allocated'])}, committed {yuan(want['failed_fen'])}, "
            f"paid {yuan(paid)}, available "
            f"{yuan(want['allocated'] - paid - want['failed_fen'])}") in output
    assert "withheld: objection upheld in the public notice" in output
    assert "not paid: the bank rejected the transfer (now due)" in output
    # no ID numbers, names or phones are printed
    assert not re.search(r"\b530128\d{11}[\dX]\b", output)
    scenario = build(WORKERS, SEED)
    for w in scenario.workers:
        assert w.national_id not in output and w.mobile not in output and w.name not in output

    sent = {m.group(1): int(m.group(2))
            for m in re.finditer(r"^  ([a-z_]+) +(\d+) sent", output, re.MULTILINE)
            if int(m.group(2))}  # a kind none of whose notices is due yet shows 0 sent
    assert sent == {k: v for k, v in {
        "enrolment_confirmed": WORKERS,
        "class_schedule": WORKERS,
        "certificate_issued": want["certified"],
        "union_newly_certified": want["certified"],
        "womens_followup_enrolled": want["women"],
        # one for each woman trainee of a completed class: every class completes
        "womens_followup_completed": want["women"],
        "womens_followup_certified": want["women_certified"],
        "station_class_completed": want["class_count"],
        "hr_objection_raised": 1,
        "subsidy_paid": want["paid_workers"],
        "referral_made": want["funnel"][2],
        "union_newly_placed": want["funnel"][3],
        "womens_followup_placed": want["women_placed"],
        "womens_followup_not_placed": want["women_not_hired"],
    }.items() if v}, output
    for kind in ("follow_up_reminder", "station_follow_up_due"):
        assert re.search(rf"^  {kind} +0 sent  \({want['follow_ups_cancelled']} cancelled, "
                         rf"{want['follow_ups_pending']} pending\)", output, re.MULTILINE), kind

    funnel = re.search(r"trained (\d+) -> certified (\d+) -> referred (\d+) -> placed (\d+) "
                       r"-> still employed at 3 months (\d+)", output)
    assert funnel, output
    assert tuple(map(int, funnel.groups())) == want["funnel"]
    assert re.search(r"electrician: \d+ placed of \d+ referred .* after 6,500.00 yuan a month",
                     output), output

    assert re.search(r"replay of the funding ledger: .* -- MATCHES", output), output
    for service in ("enrolment", "training", "assessment", "funding", "notifications",
                    "employment"):
        assert re.search(rf"hash chain {service} +\d+ events  ok", output), service
    assert "Demo succeeded." in output
