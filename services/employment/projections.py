"""Employment's read models: its own events (in the appending transaction) and the workers'
pseudonymous facts from enrolment and assessment (through the inbox)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg

from services.employment import matches, outcome_groups
from services.employment.domain.calendar import FOLLOW_UP_MONTHS, follow_up_due
from services.employment.domain.matching import Candidate, Opening
from services.employment.domain.order import Institution
from services.employment.domain.vacancy import WorkerFacts
from shared.auth.policy import SiteScope
from shared.contracts import Envelope, Event
from shared.contracts.assessment import CertificationRevoked, SkillLevelCertified
from shared.contracts.common import WorkSite
from shared.contracts.employment import (
    BusinessGuidanceGiven,
    BusinessGuidanceRequested,
    FollowUpRecorded,
    ReferralDeclined,
    TrainingOrderCancelled,
    TrainingOrderPlaced,
    TrainingOrderPlanned,
    VacancyClosed,
    VacancyPosted,
    WorkerPlaced,
    WorkerReferred,
)
from shared.contracts.enrolment import IntakeSurveyRecorded, WorkerRegistered
from shared.contracts.training import (
    InstitutionAccredited,
    InstitutionReinstated,
    InstitutionSuspended,
)


async def project(conn: asyncpg.Connection, events: Sequence[Event]) -> None:
    for event in events:
        match event:
            case VacancyPosted():
                await _vacancy_posted(conn, event)
            case VacancyClosed():  # changes no referral's group: outcomes unmoved
                await conn.execute(
                    "UPDATE vacancies SET ended = $2, closed_on = $3 WHERE vacancy_id = $1",
                    event.vacancy_id, event.ended, event.closed_on)
                await matches.vacancy_closed(conn, event.vacancy_id)
            case WorkerReferred():
                async with outcome_groups.kept(conn, [event.worker_id]):
                    await conn.execute(
                        """INSERT INTO referrals (referral_id, vacancy_id, worker_id,
                               occupation_code, level, status, referred_on, consent_method,
                               consented_on)
                           VALUES ($1, $2, $3, $4, $5, 'referred', $6, $7, $8)""",
                        event.referral_id, event.vacancy_id, event.worker_id,
                        event.occupation_code, event.level, event.referred_on,
                        event.consent_method, event.consented_on)
            case ReferralDeclined():
                async with outcome_groups.kept(conn, [event.worker_id]):
                    await conn.execute(
                        "UPDATE referrals SET status = 'declined', answered_on = $2, "
                        "decline_reason = $3 WHERE referral_id = $1",
                        event.referral_id, event.declined_on, event.reason)
            case WorkerPlaced():
                await _placed(conn, event)
            case FollowUpRecorded():
                await _followed_up(conn, event)
            case BusinessGuidanceRequested():
                await conn.execute(
                    """INSERT INTO guidance_requests (request_id, worker_id, business_kind,
                           needs, hometown_county, requested_on)
                       VALUES ($1, $2, $3, $4, $5, $6)""",
                    event.request_id, event.worker_id, event.business_kind, list(event.needs),
                    event.hometown_county, event.requested_on)
            case BusinessGuidanceGiven():
                await conn.execute(
                    "UPDATE guidance_requests SET referred_to = $2, given_on = $3 "
                    "WHERE request_id = $1", event.request_id, event.referred_to,
                    event.given_on)
            case TrainingOrderPlaced():
                await conn.execute(
                    """INSERT INTO training_orders (order_id, employer, province, city,
                           site_name, occupation_code, headcount, wanted_by, placed_on)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
                    event.order_id, event.employer, event.site.province, event.site.city,
                    event.site.site_name, event.occupation_code, event.headcount,
                    event.wanted_by, event.placed_on)
            case TrainingOrderPlanned():
                await conn.execute(
                    "UPDATE training_orders SET institution_id = $2, class_id = $3, "
                    "planned_on = $4 WHERE order_id = $1", event.order_id,
                    event.institution_id, event.class_id, event.planned_on)
            case TrainingOrderCancelled():
                await conn.execute(
                    "UPDATE training_orders SET cancel_reason = $2, cancelled_on = $3 "
                    "WHERE order_id = $1", event.order_id, event.reason, event.cancelled_on)


async def _vacancy_posted(conn: asyncpg.Connection, event: VacancyPosted) -> None:
    # A referral is made to a posted vacancy, so none waits for this one; were one there, it
    # would count from now on (in its destination's group).
    waiting = [r["worker_id"] for r in await conn.fetch(
        "SELECT DISTINCT worker_id FROM referrals WHERE vacancy_id = $1", event.vacancy_id)]
    async with outcome_groups.kept(conn, waiting):
        await conn.execute(
            """INSERT INTO vacancies (vacancy_id, employer, province, city, site_name,
                   occupation_code, minimum_level, headcount, wage_min_fen,
                   wage_max_fen, shift_pattern, starts_on, closes_on, posted_on)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)""",
            event.vacancy_id, event.employer, event.site.province, event.site.city,
            event.site.site_name, event.occupation_code, event.minimum_level,
            event.headcount, event.wage_min_fen, event.wage_max_fen,
            event.shift_pattern, event.starts_on, event.closes_on, event.posted_on)
    await matches.vacancy_posted(conn, event.vacancy_id)


async def _placed(conn: asyncpg.Connection, event: WorkerPlaced) -> None:
    async with outcome_groups.kept(conn, [event.worker_id]):
        await conn.execute(
            "UPDATE referrals SET status = 'placed', answered_on = $2, monthly_wage_fen = $3, "
            "starts_on = $4 WHERE referral_id = $1",
            event.referral_id, event.placed_on, event.monthly_wage_fen, event.starts_on)
    await conn.execute("UPDATE vacancies SET hired = hired + 1 WHERE vacancy_id = $1",
                       event.vacancy_id)
    site = event.site
    await conn.executemany(
        """INSERT INTO follow_ups_due (referral_id, month, due_on, vacancy_id, worker_id,
               province, city, site_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        [(event.referral_id, month, follow_up_due(event.starts_on, month), event.vacancy_id,
          event.worker_id, site.province, site.city, site.site_name)
         for month in FOLLOW_UP_MONTHS])
    await matches.rescore_worker(conn, event.worker_id)  # placed: in no ranking now


async def _followed_up(conn: asyncpg.Connection, event: FollowUpRecorded) -> None:
    async with outcome_groups.kept(conn, [event.worker_id]):
        await conn.execute(
            "INSERT INTO follow_ups (referral_id, month, still_employed, monthly_wage_fen, "
            "recorded_on) VALUES ($1, $2, $3, $4, $5)",
            event.referral_id, event.month, event.still_employed, event.monthly_wage_fen,
            event.recorded_on)
        if not event.still_employed:
            await conn.execute("UPDATE referrals SET status = 'left' WHERE referral_id = $1",
                               event.referral_id)
    if event.still_employed:
        await conn.execute("DELETE FROM follow_ups_due WHERE referral_id = $1 AND month = $2",
                           event.referral_id, event.month)
        return
    await conn.execute("DELETE FROM follow_ups_due WHERE referral_id = $1", event.referral_id)
    await matches.rescore_worker(conn, event.worker_id)  # left: ranked again


# -- what employment consumes -------------------------------------------------------------------

async def worker_registered(conn: asyncpg.Connection, _: Envelope,
                            event: WorkerRegistered) -> None:
    site = event.work_site
    async with outcome_groups.kept(conn, [event.worker_id]):  # their gender's group
        await conn.execute(
            """INSERT INTO worker_facts (worker_id, gender, province, city, site_name)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (worker_id) DO UPDATE SET
               gender = excluded.gender, province = excluded.province, city = excluded.city,
               site_name = excluded.site_name""",
            event.worker_id, event.gender, site.province if site else None,
            site.city if site else None, site.site_name if site else None)
    await matches.rescore_worker(conn, event.worker_id)


async def intake_survey_recorded(conn: asyncpg.Connection, _: Envelope,
                                 event: IntakeSurveyRecorded) -> None:
    """The latest survey counts (by its date; a redelivered older one changes nothing)."""
    async with outcome_groups.kept(conn, [event.worker_id]):  # their wage band told
        await conn.execute(
            """INSERT INTO worker_facts AS w (worker_id, availability, wage_band, surveyed_on)
               VALUES ($1, $2, $3, $4) ON CONFLICT (worker_id) DO UPDATE SET
               availability = excluded.availability, wage_band = excluded.wage_band,
               surveyed_on = excluded.surveyed_on
               WHERE w.surveyed_on IS NULL OR w.surveyed_on <= excluded.surveyed_on""",
            event.worker_id, list(event.availability), event.current_wage_band,
            event.surveyed_on)
    await matches.rescore_worker(conn, event.worker_id)


async def skill_level_certified(conn: asyncpg.Connection, _: Envelope,
                                event: SkillLevelCertified) -> None:
    await conn.execute(
        """INSERT INTO worker_certificates (certificate_id, worker_id, occupation_code, level)
           VALUES ($1, $2, $3, $4) ON CONFLICT (certificate_id) DO NOTHING""",
        event.certificate_id, event.worker_id, event.occupation_code, event.level)
    await matches.rescore_worker(conn, event.worker_id)


async def certification_revoked(conn: asyncpg.Connection, _: Envelope,
                                event: CertificationRevoked) -> None:
    """A revoked certificate no longer qualifies anyone (kept, marked, in case the
    certification arrives after its revocation)."""
    await conn.execute(
        """INSERT INTO worker_certificates (certificate_id, worker_id, occupation_code, level,
               revoked) VALUES ($1, $2, $3, $4, true)
           ON CONFLICT (certificate_id) DO UPDATE SET revoked = true""",
        event.certificate_id, event.worker_id, event.occupation_code, event.level)
    await matches.rescore_worker(conn, event.worker_id)


async def institution_accredited(conn: asyncpg.Connection, _: Envelope,
                                 event: InstitutionAccredited) -> None:
    await conn.execute(
        """INSERT INTO institutions (institution_id, occupations) VALUES ($1, $2)
           ON CONFLICT (institution_id) DO UPDATE SET occupations = excluded.occupations""",
        event.institution_id, list(event.occupations))


async def institution_suspended(conn: asyncpg.Connection, _: Envelope,
                                event: InstitutionSuspended) -> None:
    await _suspended(conn, event.institution_id, True)


async def institution_reinstated(conn: asyncpg.Connection, _: Envelope,
                                 event: InstitutionReinstated) -> None:
    await _suspended(conn, event.institution_id, False)


async def _suspended(conn: asyncpg.Connection, institution_id: str, suspended: bool) -> None:
    await conn.execute(
        """INSERT INTO institutions (institution_id, suspended) VALUES ($1, $2)
           ON CONFLICT (institution_id) DO UPDATE SET suspended = excluded.suspended""",
        institution_id, suspended)


# -- what commands and queries read ------------------------------------------------------------

async def worker_facts(conn: asyncpg.Connection, worker_id: str,
                       occupation_code: str, referral_vacancy: str) -> WorkerFacts:
    """A referral's facts: the worker's best live level in the occupation, and whether a
    referral to another vacancy placed them and no follow-up recorded that they left."""
    row = await conn.fetchrow(
        """SELECT (SELECT min(level) FROM worker_certificates WHERE worker_id = $1
                   AND occupation_code = $2 AND NOT revoked) AS level,
                  EXISTS (SELECT 1 FROM referrals WHERE worker_id = $1 AND status = 'placed'
                          AND vacancy_id <> $3) AS placed""",
        worker_id, occupation_code, referral_vacancy)
    return WorkerFacts(certified_level=row["level"], placed_elsewhere=row["placed"])


def _candidate(row: asyncpg.Record) -> Candidate:
    return Candidate(worker_id=row["worker_id"], levels=dict(zip(row["occupations"],
                                                                 row["levels"], strict=True)),
                     province=row["province"], city=row["city"],
                     availability=frozenset(row["availability"] or ()), placed=row["placed"])


_CANDIDATES = """
    SELECT c.worker_id, array_agg(c.occupation_code ORDER BY c.occupation_code) AS occupations,
           array_agg(c.level ORDER BY c.occupation_code) AS levels,
           f.province, f.city, f.availability,
           EXISTS (SELECT 1 FROM referrals r WHERE r.worker_id = c.worker_id
                   AND r.status = 'placed') AS placed
    FROM (SELECT worker_id, occupation_code, min(level) AS level FROM worker_certificates
          WHERE NOT revoked AND {where} GROUP BY worker_id, occupation_code) c
    LEFT JOIN worker_facts f USING (worker_id)
    GROUP BY c.worker_id, f.province, f.city, f.availability"""


async def candidates_for(conn: asyncpg.Connection, occupation_code: str,
                         minimum_level: int) -> list[Candidate]:
    """Every worker with a live certificate in the occupation at the level or higher: the
    whole slice, for checking the read model of matches (services/employment/matches.py),
    never for a route."""
    rows = await conn.fetch(_CANDIDATES.format(
        where="occupation_code = $1 AND level <= $2"), occupation_code, minimum_level)
    return [_candidate(r) for r in rows]


async def candidates_among(conn: asyncpg.Connection,
                           worker_ids: Sequence[str]) -> list[Candidate]:
    """These workers, those of them with a live certificate."""
    rows = await conn.fetch(_CANDIDATES.format(where="worker_id = ANY($1::text[])"),
                            list(worker_ids))
    return [_candidate(r) for r in rows]


async def candidate(conn: asyncpg.Connection, worker_id: str) -> Candidate | None:
    rows = await conn.fetch(_CANDIDATES.format(where="worker_id = $1"), worker_id)
    if rows:
        return _candidate(rows[0])
    known = await conn.fetchrow("SELECT * FROM worker_facts WHERE worker_id = $1", worker_id)
    if known is None:
        return None
    return Candidate(worker_id=worker_id, province=known["province"], city=known["city"],
                     availability=frozenset(known["availability"]))


async def knows_of(conn: asyncpg.Connection, worker_id: str) -> bool:
    """Whether employment has any fact of the worker: a live certificate or their
    registration or survey."""
    return bool(await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM worker_certificates WHERE worker_id = $1
                          AND NOT revoked)
               OR EXISTS (SELECT 1 FROM worker_facts WHERE worker_id = $1)""", worker_id))


async def knows_worker(conn: asyncpg.Connection, worker_id: str) -> bool:
    """Whether employment has heard of the worker's registration."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM worker_facts WHERE worker_id = $1 AND gender IS NOT NULL)",
        worker_id))


async def guidance_requests(conn: asyncpg.Connection, open_only: bool, after: tuple[Any, ...],
                            limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` requests (only those not answered yet when ``open_only``), in
    (requested_on, request_id) order after the key ``after``."""
    where = ["(NOT $1 OR given_on IS NULL)"]
    args: list[Any] = [open_only]
    if after[0] is not None:
        where.append("(requested_on, request_id) > ($2::date, $3)")
        args += list(after)
    args.append(limit)
    rows = await conn.fetch(
        f"""SELECT request_id, worker_id, business_kind, needs, hometown_county, requested_on,
                   referred_to, given_on FROM guidance_requests WHERE {' AND '.join(where)}
            ORDER BY requested_on, request_id LIMIT ${len(args)}""", *args)
    return [dict(r) for r in rows]


async def worker_site(conn: asyncpg.Connection, worker_id: str) -> WorkSite | None:
    row = await conn.fetchrow(
        "SELECT province, city, site_name FROM worker_facts WHERE worker_id = $1", worker_id)
    if row is None or row["province"] is None:
        return None
    return WorkSite(province=row["province"], city=row["city"], site_name=row["site_name"])


def _opening(row: asyncpg.Record) -> Opening:
    return Opening(vacancy_id=row["vacancy_id"], occupation_code=row["occupation_code"],
                   minimum_level=row["minimum_level"], province=row["province"],
                   city=row["city"], shift_pattern=row["shift_pattern"])


async def vacancy(conn: asyncpg.Connection, vacancy_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM vacancies WHERE vacancy_id = $1", vacancy_id)
    return None if row is None else dict(row)


def opening_of(row: dict[str, Any]) -> Opening:
    return Opening(vacancy_id=row["vacancy_id"], occupation_code=row["occupation_code"],
                   minimum_level=row["minimum_level"], province=row["province"],
                   city=row["city"], shift_pattern=row["shift_pattern"])


def is_open(row: dict[str, Any], today: date) -> bool:
    return row["ended"] is None and row["hired"] < row["headcount"] and today <= row["closes_on"]


async def openings_for(conn: asyncpg.Connection, occupations: Sequence[str],
                       today: date) -> list[Opening]:
    """The open vacancies (not ended, not filled, not past closing) in these occupations."""
    rows = await conn.fetch(
        """SELECT * FROM vacancies WHERE ended IS NULL AND occupation_code = ANY($1::text[])
           AND hired < headcount AND closes_on >= $2""", list(occupations), today)
    return [_opening(r) for r in rows]


def _sites(scopes: Sequence[SiteScope]) -> tuple[list[str], list[str], list[str | None]]:
    return ([s.province for s in scopes], [s.city for s in scopes],
            [s.site_name for s in scopes])


async def follow_ups_due(conn: asyncpg.Connection, today: date,
                         scopes: Sequence[SiteScope] | None, after: tuple[Any, ...],
                         limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` follow-ups due by ``today`` (in ``scopes``' sites; None: everywhere),
    after the (due_on, referral_id, month) key ``after``, in key order."""
    where = ["due_on <= $1"]
    args: list[Any] = [today]
    if scopes is not None:
        provinces, cities, names = _sites(scopes)
        args += [provinces, cities, names]
        where.append("EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[], $4::text[]) "
                     "AS s(province, city, site_name) WHERE s.province = d.province AND "
                     "s.city = d.city AND (s.site_name IS NULL OR s.site_name = d.site_name))")
    if after[0] is not None:
        n = len(args)
        args += list(after)
        where.append(f"(due_on, referral_id, month) > (${n + 1}::date, ${n + 2}, ${n + 3})")
    args.append(limit)
    rows = await conn.fetch(
        f"""SELECT due_on, referral_id, month, vacancy_id, worker_id, province, city, site_name
            FROM follow_ups_due d WHERE {' AND '.join(where)}
            ORDER BY due_on, referral_id, month LIMIT ${len(args)}""", *args)
    return [dict(r) for r in rows]


async def referrals_of(conn: asyncpg.Connection, vacancy_id: str, after: str | None,
                       limit: int) -> list[dict[str, Any]]:
    columns = ("referral_id, worker_id, level, status, referred_on, consent_method, "
               "consented_on, answered_on, decline_reason, monthly_wage_fen, starts_on")
    if after is None:
        rows = await conn.fetch(
            f"SELECT {columns} FROM referrals WHERE vacancy_id = $1 ORDER BY referral_id "
            "LIMIT $2", vacancy_id, limit)
    else:
        rows = await conn.fetch(
            f"SELECT {columns} FROM referrals WHERE vacancy_id = $1 AND referral_id > $2 "
            "ORDER BY referral_id LIMIT $3", vacancy_id, after, limit)
    return [dict(r) for r in rows]


_ORDER_COLUMNS = ("order_id, employer, province, city, site_name, occupation_code, headcount, "
                  "wanted_by, placed_on, institution_id, class_id, planned_on, cancel_reason, "
                  "cancelled_on")


def _order(row: asyncpg.Record) -> dict[str, Any]:
    found = dict(row)
    found["status"] = ("cancelled" if found["cancelled_on"] is not None
                       else "planned" if found["planned_on"] is not None else "placed")
    return found


async def training_order(conn: asyncpg.Connection, order_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {_ORDER_COLUMNS} FROM training_orders "
                              "WHERE order_id = $1", order_id)
    return None if row is None else _order(row)


async def training_orders(conn: asyncpg.Connection, scopes: Sequence[SiteScope] | None,
                          after: str | None, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` orders (in ``scopes``' sites; None: everywhere) after the order id
    ``after``, in order id order."""
    where = ["true"]
    args: list[Any] = []
    if scopes is not None:
        provinces, cities, names = _sites(scopes)
        args += [provinces, cities, names]
        where.append("EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[], $3::text[]) "
                     "AS s(province, city, site_name) WHERE s.province = o.province AND "
                     "s.city = o.city AND (s.site_name IS NULL OR s.site_name = o.site_name))")
    if after is not None:
        args.append(after)
        where.append(f"order_id > ${len(args)}")
    args.append(limit)
    rows = await conn.fetch(
        f"""SELECT {_ORDER_COLUMNS} FROM training_orders o WHERE {' AND '.join(where)}
            ORDER BY order_id LIMIT ${len(args)}""", *args)
    return [_order(r) for r in rows]


async def institution(conn: asyncpg.Connection, institution_id: str) -> Institution | None:
    """What employment knows of an accredited institution; None when none is accredited
    with this id."""
    row = await conn.fetchrow("SELECT occupations, suspended FROM institutions "
                              "WHERE institution_id = $1 AND occupations IS NOT NULL",
                              institution_id)
    if row is None:
        return None
    return Institution(occupations=frozenset(row["occupations"]), suspended=row["suspended"])
