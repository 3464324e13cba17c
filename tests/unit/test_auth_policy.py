import pytest

from shared.auth.policy import (
    PERMISSIONS,
    ROLES,
    Action,
    Forbidden,
    Organisation,
    SiteScope,
    Target,
    authorise,
    can_approve_class,
    can_enrol,
    can_record_attendance,
    can_register_worker,
    can_revoke_certificate,
    can_schedule_assessment,
    can_schedule_class,
    can_view_roster,
    can_view_statistics,
    can_view_worker_record,
    require,
)
from shared.contracts.common import WorkSite
from tests.unit.builders import FUKANG, PUTUO

HR = Organisation("hr-luquan", "hr_bureau")
FUKANG_STATION = Organisation("station-fukang", "liaison_station",
                              sites=(SiteScope("新疆", "阜康市"),))
PUTUO_SITE_STATION = Organisation("station-putuo", "liaison_station",
                                  sites=(SiteScope("上海", "普陀区", "长征镇"),))
INSTITUTION = Organisation("org-inst-1", "training_institution", institution_id="inst-1")
BODY = Organisation("org-body-1", "assessment_body", body_id="body-1")
MEDIA = Organisation("media", "media")
UNION = Organisation("union", "union")
WOMEN = Organisation("women", "womens_federation")
AUDITOR = Organisation("auditor", "auditor")


def test_every_action_has_a_permission_and_every_role_is_known():
    assert set(PERMISSIONS) == set(Action)
    for permission in PERMISSIONS.values():
        assert permission.anywhere <= set(ROLES)
        assert permission.scoped is None or permission.scope is not None


def test_a_liaison_station_registers_workers_at_its_own_sites_only():
    assert can_register_worker(FUKANG_STATION, FUKANG).allowed
    other = can_register_worker(FUKANG_STATION, PUTUO)
    assert (other.allowed, other.denied_by) == (False, "scope")


def test_a_station_scoped_to_one_site_does_not_cover_its_neighbours():
    assert can_enrol(PUTUO_SITE_STATION, PUTUO).allowed
    neighbour = WorkSite(province="上海", city="普陀区", site_name="桃浦镇")
    assert can_enrol(PUTUO_SITE_STATION, neighbour).denied_by == "scope"


@pytest.mark.parametrize("org", [HR, INSTITUTION, BODY, MEDIA, UNION, WOMEN, AUDITOR])
def test_only_liaison_stations_register_workers(org):
    decision = can_register_worker(org, FUKANG)
    assert (decision.allowed, decision.denied_by) == (False, "role")
    assert org.role in decision.reason and "liaison_station" in decision.reason


def test_an_institution_touches_only_its_own_classes():
    assert can_schedule_class(INSTITUTION, "inst-1").allowed
    assert can_record_attendance(INSTITUTION, "inst-1").allowed
    assert can_record_attendance(INSTITUTION, "inst-2").denied_by == "scope"
    assert can_schedule_class(HR, "inst-1").denied_by == "role"


def test_only_the_hr_bureau_approves_classes_and_manages_institutions():
    assert can_approve_class(HR).allowed
    assert can_approve_class(INSTITUTION).denied_by == "role"
    for action in (Action.ACCREDIT_INSTITUTION, Action.SUSPEND_INSTITUTION,
                   Action.REINSTATE_INSTITUTION, Action.REGISTER_ASSESSMENT_BODY):
        assert authorise(HR, action).allowed
        assert authorise(INSTITUTION, action).denied_by == "role"


def test_an_assessment_body_touches_only_its_own_assessments():
    assert can_schedule_assessment(BODY, "body-1").allowed
    assert can_schedule_assessment(BODY, "body-2").denied_by == "scope"
    assert can_schedule_assessment(INSTITUTION, "body-1").denied_by == "role"


def test_the_hr_bureau_may_revoke_any_certificate_and_a_body_only_its_own():
    assert can_revoke_certificate(HR, "body-9").allowed
    assert can_revoke_certificate(BODY, "body-1").allowed
    assert can_revoke_certificate(BODY, "body-9").denied_by == "scope"


def test_queries_by_department():
    assert can_view_roster(INSTITUTION, "inst-1").allowed
    assert can_view_roster(INSTITUTION, "inst-2").denied_by == "scope"
    assert can_view_roster(HR, "inst-2").allowed
    assert can_view_roster(MEDIA, "inst-1").denied_by == "role"
    assert can_view_worker_record(FUKANG_STATION, FUKANG).allowed
    assert can_view_worker_record(FUKANG_STATION, PUTUO).denied_by == "scope"
    assert can_view_worker_record(MEDIA, FUKANG).denied_by == "role"
    for org in (MEDIA, UNION, WOMEN, HR, AUDITOR):
        assert can_view_statistics(org).allowed
    assert can_view_statistics(INSTITUTION).denied_by == "role"


def test_a_scoped_role_without_a_target_is_out_of_scope():
    assert authorise(INSTITUTION, Action.COMPLETE_CLASS, Target()).denied_by == "scope"


def test_require_raises_a_403_naming_role_or_scope():
    require(INSTITUTION, Action.COMPLETE_CLASS, Target(institution_id="inst-1"))
    with pytest.raises(Forbidden) as err:
        require(MEDIA, Action.COMPLETE_CLASS, Target(institution_id="inst-1"))
    assert (err.value.status_code, err.value.code) == (403, "wrong_role")
    with pytest.raises(Forbidden) as err:
        require(INSTITUTION, Action.COMPLETE_CLASS, Target(institution_id="inst-2"))
    assert err.value.code == "out_of_scope"
