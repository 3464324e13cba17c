"""返乡创业: one open request per worker, answered by the HR bureau."""

from __future__ import annotations

from datetime import date

import pytest

from services.employment.domain.guidance import (
    GUIDANCE,
    ForAnswer,
    ForRequest,
    GiveBusinessGuidance,
    RequestBusinessGuidance,
)
from shared.runtime.errors import DomainError

DAY = date(2025, 12, 1)
ASK = RequestBusinessGuidance(worker_id="w-1", business_kind="farming",
                              needs=["loan", "loan", "premises"])


def test_a_request_waits_for_its_answer_before_another_is_taken() -> None:
    [requested] = GUIDANCE.decide(ASK, GUIDANCE.initial, ForRequest(DAY, "g-1"))
    assert (requested.request_id, requested.needs) == ("g-1", ["loan", "premises"])
    waiting = GUIDANCE.evolve(GUIDANCE.initial, requested)
    with pytest.raises(DomainError) as refused:
        GUIDANCE.decide(ASK, waiting, ForRequest(DAY, "g-2"))
    assert refused.value.code == "guidance_already_requested"
    with pytest.raises(DomainError) as wrong:
        GUIDANCE.decide(GiveBusinessGuidance(worker_id="w-1", request_id="g-9",
                                             referred_to="县创业指导中心"), waiting, ForAnswer(DAY))
    assert wrong.value.code == "guidance_request_not_open"
    [given] = GUIDANCE.decide(GiveBusinessGuidance(worker_id="w-1", request_id="g-1",
                                                   referred_to="县创业指导中心"), waiting,
                              ForAnswer(DAY))
    answered = GUIDANCE.evolve(waiting, given)
    [again] = GUIDANCE.decide(ASK, answered, ForRequest(DAY, "g-2"))
    assert again.request_id == "g-2"
