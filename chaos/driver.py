"""The load: the demo's worker journeys, step by step, with a hook between the programme's
set-up and the load (faults start) and before the money moves (faults end, system recovered).

The fault injector works while workers are registered, enrolled, attend, complete, are
assessed and while funding derives its ledger; the disbursement (approval, public notice,
payment) starts after recovery, like an HR bureau that waits for its systems to be back
before paying. Its commands then meet faults of their own, in the client
(``chaos.faults.RequestFaults``): answers lost, funding killed mid-request.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable

from songji.demo import scenario as sc
from songji.demo import steps
from songji.demo.progress import Progress

Hook = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


async def play(api: steps.Departments, scenario: sc.Scenario, *, load_starts: Hook = _nothing,
               before_payment: Hook = _nothing, quiet: bool = True) -> steps.Run:
    progress = Progress(steps.STEPS + 1, io.StringIO() if quiet else None)
    run = steps.Run(scenario)
    await steps.set_up_programme(api, run, progress)
    await load_starts()
    await steps.register_and_survey(api, run, progress)
    await steps.schedule_and_approve(api, run, progress)
    await steps.enrol(api, run, progress)
    await steps.record_attendance(api, run, progress)
    await steps.complete_classes(api, run, progress)
    await steps.assess(api, run, progress)
    await steps.wait_for_ledger(api, run, progress)
    await before_payment()
    await steps.wait_for_ledger(api, run, progress)
    await steps.disburse(api, run, progress)
    await steps.wait_for_notifications(api, run, progress)
    return run
