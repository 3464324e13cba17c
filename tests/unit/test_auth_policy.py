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


def of_institution(institution_id: str) -> Target:
    return Target(institution_id=institution_id)


def of_body(body_id: str) -> Target:
    return Target(body_id=body_id)


def test_every_action_has_a_permission_and_every_role_is_known():
    assert set(PERMISSIONS) == set(Action)
    for permission in PERMISSIONS.values():
        assert permission.anywhere <= set(ROLES)
        assert permission.scoped is None or permission.scope is not None


def test_a_liaison_station_registers_workers_at_its_own_sites_only():
    assert authorise(FUKANG_STATION, Action.REGISTER_WORKER, Target(site=FUKANG)).allowed
    other = authorise(FUKANG_STATION, Action.REGISTER_WORKER, Target(site=PUTUO))
    assert (other.allowed, other.denied_by) == (False, "scope")


def test_a_station_scoped_to_one_site_does_not_cover_its_neighbours():
    assert authorise(PUTUO_SITE_STATION, Action.ENROL, Target(site=PUTUO)).allowed
    neighbour = WorkSite(province="上海", city="普陀区", site_name="桃浦镇")
    assert authorise(PUTUO_SITE_STATION, Action.ENROL, Target(site=neighbour)).denied_by == "scope"


@pytest.mark.parametrize("org", [HR, INSTITUTION, BODY, MEDIA, UNION, WOMEN, AUDITOR])
def test_only_liaison_stations_register_workers(org):
    decision = authorise(org, Action.REGISTER_WORKER, Target(site=FUKANG))
    assert (decision.allowed, decision.denied_by) == (False, "role")
    assert org.role in decision.reason and "liaison_station" in decision.reason


def test_an_institution_touches_only_its_own_classes():
    assert authorise(INSTITUTION, Action.SCHEDULE_CLASS, of_institution("inst-1")).allowed
    assert authorise(INSTITUTION, Action.RECORD_ATTENDANCE, of_institution("inst-1")).allowed
    other = authorise(INSTITUTION, Action.RECORD_ATTENDANCE, of_institution("inst-2"))
    assert other.denied_by == "scope"
    assert authorise(HR, Action.SCHEDULE_CLASS, of_institution("inst-1")).denied_by == "role"


def test_only_the_hr_bureau_approves_classes_and_manages_institutions():
    assert authorise(HR, Action.APPROVE_CLASS).allowed
    assert authorise(INSTITUTION, Action.APPROVE_CLASS).denied_by == "role"
    for action in (Action.ACCREDIT_INSTITUTION, Action.SUSPEND_INSTITUTION,
                   Action.REINSTATE_INSTITUTION, Action.REGISTER_ASSESSMENT_BODY):
        assert authorise(HR, action).allowed
        assert authorise(INSTITUTION, action).denied_by == "role"


def test_an_assessment_body_touches_only_its_own_assessments():
    assert authorise(BODY, Action.SCHEDULE_ASSESSMENT, of_body("body-1")).allowed
    assert authorise(BODY, Action.SCHEDULE_ASSESSMENT, of_body("body-2")).denied_by == "scope"
    assert authorise(INSTITUTION, Action.SCHEDULE_ASSESSMENT, of_body("body-1")).denied_by == "role"


def test_the_hr_bureau_may_revoke_any_certificate_and_a_body_only_its_own():
    assert authorise(HR, Action.REVOKE_CERTIFICATE, of_body("body-9")).allowed
    assert authorise(BODY, Action.REVOKE_CERTIFICATE, of_body("body-1")).allowed
    assert authorise(BODY, Action.REVOKE_CERTIFICATE, of_body("body-9")).denied_by == "scope"


def test_queries_by_department():
    assert authorise(INSTITUTION, Action.VIEW_ROSTER, of_institution("inst-1")).allowed
    assert authorise(INSTITUTION, Action.VIEW_ROSTER, of_institution("inst-2")).denied_by == "scope"
    assert authorise(HR, Action.VIEW_ROSTER, of_institution("inst-2")).allowed
    assert authorise(MEDIA, Action.VIEW_ROSTER, of_institution("inst-1")).denied_by == "role"
    assert authorise(FUKANG_STATION, Action.VIEW_WORKER_RECORD, Target(site=FUKANG)).allowed
    elsewhere = authorise(FUKANG_STATION, Action.VIEW_WORKER_RECORD, Target(site=PUTUO))
    assert elsewhere.denied_by == "scope"
    assert authorise(MEDIA, Action.VIEW_WORKER_RECORD, Target(site=FUKANG)).denied_by == "role"
    for org in (MEDIA, UNION, WOMEN, HR, AUDITOR):
        assert authorise(org, Action.VIEW_STATISTICS).allowed
    assert authorise(INSTITUTION, Action.VIEW_STATISTICS).denied_by == "role"


def test_a_scoped_role_without_a_target_is_out_of_scope():
    assert authorise(INSTITUTION, Action.COMPLETE_CLASS, Target()).denied_by == "scope"


def test_require_raises_a_403_naming_role_or_scope():
    require(INSTITUTION, Action.COMPLETE_CLASS, of_institution("inst-1"))
    with pytest.raises(Forbidden) as err:
        require(MEDIA, Action.COMPLETE_CLASS, of_institution("inst-1"))
    assert (err.value.status_code, err.value.code) == (403, "wrong_role")
    with pytest.raises(Forbidden) as err:
        require(INSTITUTION, Action.COMPLETE_CLASS, of_institution("inst-2"))
    assert err.value.code == "out_of_scope"
