"""Who may list which notices: the delivery log whole for the HR bureau and the auditors; the
union and the women's federation their own follow-up lists only; everybody else nothing."""

from __future__ import annotations

import pytest

from services.notifications.api import readable_recipient
from shared.auth.policy import Forbidden, Organisation


def org(role: str) -> Organisation:
    return Organisation(org_id=f"org-{role}", role=role)


def test_the_delivery_log_readers_list_any_recipient_or_all() -> None:
    for role in ("hr_bureau", "auditor"):
        assert readable_recipient(org(role), None) is None
        assert readable_recipient(org(role), "w-1") == "w-1"


def test_a_department_lists_its_own_notices_whatever_it_asks_for() -> None:
    assert readable_recipient(org("womens_federation"), None) == "womens_federation"
    assert readable_recipient(org("womens_federation"), "womens_federation") == \
        "womens_federation"
    assert readable_recipient(org("union"), None) == "trade_union"


@pytest.mark.parametrize(("role", "asked"), [("womens_federation", "w-1"),
                                             ("womens_federation", "trade_union"),
                                             ("union", "womens_federation")])
def test_a_department_is_refused_another_recipients_notices(role: str, asked: str) -> None:
    with pytest.raises(Forbidden) as refused:
        readable_recipient(org(role), asked)
    assert refused.value.code == "out_of_scope"


@pytest.mark.parametrize("role", ["liaison_station", "training_institution", "media"])
def test_other_organisations_list_no_notices(role: str) -> None:
    with pytest.raises(Forbidden) as refused:
        readable_recipient(org(role), None)
    assert refused.value.code == "wrong_role"
