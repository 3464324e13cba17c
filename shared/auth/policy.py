"""Access control as pure code: may this organisation do this, on this target?

Each department does its own part only (DOMAIN.md). A decision says whether it is allowed and,
when not, whether the role is wrong (this kind of organisation never does that) or the scope is
(right kind of organisation, someone else's class, body or site), so a 403 can say which.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from shared.contracts.common import WorkSite
from shared.runtime.errors import DomainError

# ``notifications_service`` is not a department: it is the notifications service itself,
# which may read a worker's contact details at send time and nothing else.
Role = Literal["hr_bureau", "liaison_station", "training_institution", "assessment_body",
               "union", "womens_federation", "media", "auditor", "notifications_service"]
ROLES: tuple[Role, ...] = ("hr_bureau", "liaison_station", "training_institution",
                           "assessment_body", "union", "womens_federation", "media", "auditor",
                           "notifications_service")


@dataclass(frozen=True, slots=True)
class SiteScope:
    """A liaison station's area: a whole city or district, or one named site in it."""

    province: str
    city: str
    site_name: str | None = None

    def covers(self, site: WorkSite) -> bool:
        return (site.province == self.province and site.city == self.city
                and self.site_name in (None, site.site_name))


@dataclass(frozen=True, slots=True)
class Organisation:
    org_id: str
    role: Role
    sites: tuple[SiteScope, ...] = ()  # liaison stations
    institution_id: str | None = None  # training institutions: their own
    body_id: str | None = None  # assessment bodies: their own


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a bearer token names: an organisation and, for an officer's own token, the officer.
    Permissions are the organisation's; the user is recorded as who acted."""

    organisation: Organisation
    user: str | None = None


class Action(StrEnum):
    REGISTER_WORKER = "register_worker"
    RECORD_INTAKE_SURVEY = "record_intake_survey"
    ENROL = "enrol"
    WITHDRAW = "withdraw"
    ACCREDIT_INSTITUTION = "accredit_institution"
    SUSPEND_INSTITUTION = "suspend_institution"
    REINSTATE_INSTITUTION = "reinstate_institution"
    SCHEDULE_CLASS = "schedule_class"
    APPROVE_CLASS = "approve_class"
    RECORD_ATTENDANCE = "record_attendance"
    VOID_ATTENDANCE = "void_attendance"
    COMPLETE_CLASS = "complete_class"
    REGISTER_ASSESSMENT_BODY = "register_assessment_body"
    ADD_ASSESSOR = "add_assessor"
    SCHEDULE_ASSESSMENT = "schedule_assessment"
    RECORD_RESULT = "record_result"
    VOID_RESULT = "void_result"
    REVOKE_CERTIFICATE = "revoke_certificate"
    VIEW_ROSTER = "view_roster"  # class roster and attendance sheet
    VIEW_CLASSES = "view_classes"  # the list of class runs (no trainee named)
    # completed classes no assessment is scheduled for: the bodies' task queue (no trainee named)
    VIEW_ASSESSMENT_QUEUE = "view_assessment_queue"
    VIEW_RESULTS = "view_results"  # an assessment's results and certificates
    VIEW_WORKER_RECORD = "view_worker_record"
    VIEW_STATISTICS = "view_statistics"  # counts only, no personal data
    AUDIT = "audit"  # replay the history, verify the stores' hash chains
    VIEW_CONTACT = "view_contact"  # a worker's name and phone, to send them a message
    VIEW_KNOWN_WORKERS = "view_known_workers"  # notifications' pseudonymous worker facts
    VIEW_DELIVERY_LOG = "view_delivery_log"  # notices, their recipients' ids and outcomes
    VIEW_OWN_NOTICES = "view_own_notices"  # a department's follow-up list: notices to itself
    MANAGE_WEBHOOKS = "manage_webhooks"  # which integrators receive which events
    # Funding's: its policy, budget, disbursement and ledger.
    PUBLISH_FUNDING_POLICY = "publish_funding_policy"
    VIEW_FUNDING_POLICY = "view_funding_policy"  # the versions, and the grant calculator
    ALLOCATE_BUDGET = "allocate_budget"
    VIEW_BUDGET = "view_budget"  # per fund: allocated, committed, paid, available
    VIEW_LEDGER = "view_ledger"  # ledger lines (an institution: those payable to it)
    APPROVE_DISBURSEMENT = "approve_disbursement"
    VIEW_BATCH = "view_batch"  # a batch, its notice, objections and instructions
    RAISE_OBJECTION = "raise_objection"
    RESOLVE_OBJECTION = "resolve_objection"
    ISSUE_PAYMENT_INSTRUCTION = "issue_payment_instruction"
    CONFIRM_PAYMENT = "confirm_payment"
    RECORD_RECOVERY = "record_recovery"
    VIEW_JOBS = "view_jobs"  # funding's recompute jobs: state and progress
    VIEW_TEST_CLOCK = "view_test_clock"  # funding's 'today' (rehearsals)
    MOVE_TEST_CLOCK = "move_the_test_clock"
    # Employment's: vacancies, referrals, placements and their follow-ups.
    POST_VACANCY = "post_vacancy"
    CLOSE_VACANCY = "close_vacancy"
    VIEW_MATCHES = "view_matches"  # who fits a vacancy, which vacancies fit a worker
    REFER_WORKER = "refer_worker"
    RECORD_EMPLOYER_ANSWER = "record_employer_answer"
    RECORD_FOLLOW_UP = "record_follow_up"
    VIEW_FOLLOW_UPS = "view_follow_ups"  # the follow-ups due: a station's task list
    REQUEST_BUSINESS_GUIDANCE = "request_business_guidance"  # 返乡创业, for a worker
    GIVE_BUSINESS_GUIDANCE = "give_business_guidance"
    VIEW_BUSINESS_GUIDANCE = "view_business_guidance"  # the HR bureau's list of requests
    PLACE_TRAINING_ORDER = "place_training_order"  # 订单式培训: an employer's order
    PLAN_TRAINING_ORDER = "plan_training_order"  # with an institution and a class
    CANCEL_TRAINING_ORDER = "cancel_training_order"
    VIEW_TRAINING_ORDERS = "view_training_orders"


ScopeKind = Literal["site", "institution", "body"]


@dataclass(frozen=True, slots=True)
class Permission:
    anywhere: frozenset[Role] = frozenset()  # roles allowed whatever the target
    scoped: Role | None = None  # a role allowed only on its own target
    scope: ScopeKind | None = None


def _p(anywhere: tuple[Role, ...] = (), scoped: Role | None = None,
       scope: ScopeKind | None = None) -> Permission:
    return Permission(frozenset(anywhere), scoped, scope)


_STATION = _p(scoped="liaison_station", scope="site")
_INSTITUTION = _p(scoped="training_institution", scope="institution")
_BODY = _p(scoped="assessment_body", scope="body")
_HR = _p(("hr_bureau",))

PERMISSIONS: dict[Action, Permission] = {
    Action.REGISTER_WORKER: _STATION,
    Action.RECORD_INTAKE_SURVEY: _STATION,
    Action.ENROL: _STATION,
    Action.WITHDRAW: _p(("hr_bureau",), "liaison_station", "site"),
    Action.ACCREDIT_INSTITUTION: _HR,
    Action.SUSPEND_INSTITUTION: _HR,
    Action.REINSTATE_INSTITUTION: _HR,
    Action.SCHEDULE_CLASS: _INSTITUTION,
    Action.APPROVE_CLASS: _HR,
    Action.RECORD_ATTENDANCE: _INSTITUTION,
    Action.VOID_ATTENDANCE: _INSTITUTION,
    Action.COMPLETE_CLASS: _INSTITUTION,
    Action.REGISTER_ASSESSMENT_BODY: _HR,
    Action.ADD_ASSESSOR: _p(("hr_bureau",), "assessment_body", "body"),
    Action.SCHEDULE_ASSESSMENT: _BODY,
    Action.RECORD_RESULT: _BODY,
    Action.VOID_RESULT: _BODY,
    # The HR bureau supervises the whole process and can withdraw a certificate found false.
    Action.REVOKE_CERTIFICATE: _p(("hr_bureau",), "assessment_body", "body"),
    Action.VIEW_ROSTER: _p(("hr_bureau", "auditor"), "training_institution", "institution"),
    # An institution lists its own classes; the HR bureau (which approves them) and the
    # auditors list every institution's.
    Action.VIEW_CLASSES: _p(("hr_bureau", "auditor"), "training_institution", "institution"),
    # Any accredited body may take a completed class, so every body sees the whole queue.
    Action.VIEW_ASSESSMENT_QUEUE: _p(("hr_bureau", "auditor", "assessment_body")),
    # A read has its own action: the command's (record_result) would refuse the supervisors.
    Action.VIEW_RESULTS: _p(("hr_bureau", "auditor"), "assessment_body", "body"),
    Action.VIEW_WORKER_RECORD: _p(("hr_bureau",), "liaison_station", "site"),
    Action.VIEW_STATISTICS: _p(("hr_bureau", "auditor", "media", "union", "womens_federation")),
    # Auditors check the departments' work, so no department audits itself.
    Action.AUDIT: _p(("auditor",)),
    Action.VIEW_CONTACT: _p(("notifications_service",)),
    # Notifications: the HR bureau runs the programme's notices and decides which integrators
    # receive what; auditors check the delivery log. Departments get their own notices through
    # their channels, not through the log (its recipient ids are department keys, not
    # organisations), and workers' facts (gender, birth year) stay with the HR bureau.
    Action.VIEW_KNOWN_WORKERS: _HR,
    Action.VIEW_DELIVERY_LOG: _p(("hr_bureau", "auditor")),
    # the union and the women's federation read the notices addressed to them (their
    # follow-up lists), never another recipient's: notifications' list narrows to their own
    Action.VIEW_OWN_NOTICES: _p(("union", "womens_federation")),
    Action.MANAGE_WEBHOOKS: _HR,
    # Funding: the HR bureau owns policy, budget and disbursement, and the auditors read it
    # all; an institution reads only the ledger lines payable to it (its own id is their
    # payee); the policy is public to every organisation, and anyone may object to a line
    # during its public notice (公示 invites them).
    Action.PUBLISH_FUNDING_POLICY: _HR,
    Action.VIEW_FUNDING_POLICY: _p(ROLES),
    Action.ALLOCATE_BUDGET: _HR,
    Action.VIEW_BUDGET: _p(("hr_bureau", "auditor")),
    Action.VIEW_LEDGER: _p(("hr_bureau", "auditor"), "training_institution", "institution"),
    Action.APPROVE_DISBURSEMENT: _HR,
    Action.VIEW_BATCH: _p(("hr_bureau", "auditor")),
    Action.RAISE_OBJECTION: _p(ROLES),
    Action.RESOLVE_OBJECTION: _HR,
    Action.ISSUE_PAYMENT_INSTRUCTION: _HR,
    Action.CONFIRM_PAYMENT: _HR,
    Action.RECORD_RECOVERY: _HR,
    Action.VIEW_JOBS: _p(("hr_bureau", "auditor")),
    Action.VIEW_TEST_CLOCK: _p(ROLES),
    Action.MOVE_TEST_CLOCK: _HR,
    # Employment: stations keep the register of employers near their sites (岗位台账) and the
    # HR bureau posts too; referring a worker, recording the employer's answer and following
    # the placement up are a station's work with the worker, within its own sites.
    Action.POST_VACANCY: _p(("hr_bureau",), "liaison_station", "site"),
    Action.CLOSE_VACANCY: _p(("hr_bureau",), "liaison_station", "site"),
    Action.VIEW_MATCHES: _p(("hr_bureau",), "liaison_station", "site"),
    Action.REFER_WORKER: _STATION,
    Action.RECORD_EMPLOYER_ANSWER: _STATION,
    Action.RECORD_FOLLOW_UP: _STATION,
    Action.VIEW_FOLLOW_UPS: _p(("hr_bureau",), "liaison_station", "site"),
    # A station records a worker's request to start a business back home (返乡创业); the
    # HR bureau keeps the list and answers.
    Action.REQUEST_BUSINESS_GUIDANCE: _STATION,
    Action.GIVE_BUSINESS_GUIDANCE: _HR,
    Action.VIEW_BUSINESS_GUIDANCE: _HR,
    # 订单式培训: a station records (and may cancel) an employer's order at its sites, as the
    # HR bureau may anywhere; only the HR bureau turns an order into a class plan.
    Action.PLACE_TRAINING_ORDER: _p(("hr_bureau",), "liaison_station", "site"),
    Action.PLAN_TRAINING_ORDER: _HR,
    Action.CANCEL_TRAINING_ORDER: _p(("hr_bureau",), "liaison_station", "site"),
    Action.VIEW_TRAINING_ORDERS: _p(("hr_bureau",), "liaison_station", "site"),
}


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    denied_by: Literal["role", "scope"] | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """What the command touches; only the part its scope needs is looked at."""

    site: WorkSite | None = None
    institution_id: str | None = None
    body_id: str | None = None


def authorise(org: Organisation, action: Action, target: Target = Target()) -> Decision:
    permission = PERMISSIONS[action]
    if org.role in permission.anywhere:
        return Decision(True, f"{org.role} may {action}")
    if org.role != permission.scoped:
        allowed = sorted({*permission.anywhere, *([permission.scoped] if permission.scoped
                                                  else [])})
        return Decision(False, f"role {org.role} may not {action} (allowed: "
                               f"{', '.join(allowed)})", "role")
    if _in_scope(org, permission.scope, target):
        return Decision(True, f"{org.role} may {action} within its own {permission.scope}")
    return Decision(False, f"{org.role} {org.org_id} may {action} only for its own "
                           f"{permission.scope}; this one is outside its scope", "scope")


def _in_scope(org: Organisation, scope: ScopeKind | None, target: Target) -> bool:
    match scope:
        case "site":
            return target.site is not None and any(s.covers(target.site) for s in org.sites)
        case "institution":
            return org.institution_id is not None and target.institution_id == org.institution_id
        case "body":
            return org.body_id is not None and target.body_id == org.body_id
    return False


class Unauthenticated(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


def require_role(org: Organisation, action: Action) -> None:
    """The role half of ``require``, for before the target is known: an organisation whose
    kind never does this is refused (403 ``wrong_role``) without learning anything about the
    target, not even whether it exists. Its scope is checked by ``require`` once it is."""
    permission = PERMISSIONS[action]
    if org.role in permission.anywhere or org.role == permission.scoped:
        return
    require(org, action)  # refused by role, with the same reason ``require`` gives


def require(org: Organisation, action: Action, target: Target = Target()) -> None:
    """Raise Forbidden (403) naming whether role or scope is wrong; return when allowed."""
    decision = authorise(org, action, target)
    if not decision.allowed:
        code = "wrong_role" if decision.denied_by == "role" else "out_of_scope"
        raise Forbidden(code, decision.reason, action=str(action), org_id=org.org_id)
