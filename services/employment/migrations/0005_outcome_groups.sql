-- The read model of outcomes (GET /statistics/outcomes), kept in the transaction of every
-- write to referrals, follow-ups, worker facts and vacancies (services/employment/
-- outcome_groups.py). Each referral counts in one group of each dimension: 'destination'
-- (the vacancy's province and city), 'occupation', 'level', 'gender' (the worker's, or
-- 'unknown'). Group names sort in code point order (COLLATE "C"), as the route pages them.

-- A group's counts: workers referred and placed (each once however many referrals), and the
-- placements followed up and still employed at 3 and 6 months. A page of groups reads its
-- own rows on the primary key.
CREATE TABLE IF NOT EXISTS outcome_groups (
    dimension   text NOT NULL,
    grp         text COLLATE "C" NOT NULL,
    referred    integer NOT NULL,
    placed      integer NOT NULL,
    followed_3  integer NOT NULL,
    retained_3  integer NOT NULL,
    followed_6  integer NOT NULL,
    retained_6  integer NOT NULL,
    PRIMARY KEY (dimension, grp)
);

-- How many of a worker's referrals, and of those how many placements, are in a group: a
-- worker is counted in ``referred`` (``placed``) while theirs is above zero.
CREATE TABLE IF NOT EXISTS outcome_workers (
    dimension   text NOT NULL,
    grp         text COLLATE "C" NOT NULL,
    worker_id   text NOT NULL,
    referrals   integer NOT NULL,
    placements  integer NOT NULL,
    PRIMARY KEY (dimension, grp, worker_id)
);

-- Histograms for the lower medians: the referrals in a group per wage band the worker told
-- (ordered as the bands are, when read), and the placements per monthly wage hired at.
CREATE TABLE IF NOT EXISTS outcome_wage_bands (
    dimension  text NOT NULL,
    grp        text COLLATE "C" NOT NULL,
    wage_band  text NOT NULL,
    referrals  integer NOT NULL,
    PRIMARY KEY (dimension, grp, wage_band)
);
CREATE TABLE IF NOT EXISTS outcome_wages (
    dimension         text NOT NULL,
    grp               text COLLATE "C" NOT NULL,
    monthly_wage_fen  bigint NOT NULL,
    placements        integer NOT NULL,
    PRIMARY KEY (dimension, grp, monthly_wage_fen)
);

-- A database that had referrals before this read model: filled from them, once.
CREATE TEMPORARY TABLE outcome_counted ON COMMIT DROP AS
    WITH counted AS MATERIALIZED (  -- each referral's follow-ups read once, not per dimension
        SELECT r.worker_id, r.status IN ('placed', 'left') AS placed,
               r.monthly_wage_fen AS wage, f.wage_band AS band,
               v.province || ' ' || v.city AS destination, r.occupation_code,
               r.level::text AS level, coalesce(f.gender, 'unknown') AS gender,
               CASE WHEN EXISTS (SELECT 1 FROM follow_ups x WHERE x.referral_id = r.referral_id
                                 AND x.month <= 3 AND NOT x.still_employed) THEN false
                    ELSE (SELECT x.still_employed FROM follow_ups x
                          WHERE x.referral_id = r.referral_id AND x.month = 3) END AS at_3,
               CASE WHEN EXISTS (SELECT 1 FROM follow_ups x WHERE x.referral_id = r.referral_id
                                 AND x.month <= 6 AND NOT x.still_employed) THEN false
                    ELSE (SELECT x.still_employed FROM follow_ups x
                          WHERE x.referral_id = r.referral_id AND x.month = 6) END AS at_6
        FROM referrals r JOIN vacancies v USING (vacancy_id)
        LEFT JOIN worker_facts f USING (worker_id))
    SELECT d.dimension, d.grp, c.worker_id, c.placed, c.wage, c.band, c.at_3, c.at_6
    FROM counted c
    CROSS JOIN LATERAL (VALUES ('destination', c.destination), ('occupation', c.occupation_code),
                               ('level', c.level), ('gender', c.gender)) AS d (dimension, grp);

INSERT INTO outcome_groups (dimension, grp, referred, placed, followed_3, retained_3,
                            followed_6, retained_6)
    SELECT dimension, grp, count(DISTINCT worker_id),
           count(DISTINCT worker_id) FILTER (WHERE placed),
           count(*) FILTER (WHERE placed AND at_3 IS NOT NULL),
           count(*) FILTER (WHERE placed AND at_3),
           count(*) FILTER (WHERE placed AND at_6 IS NOT NULL),
           count(*) FILTER (WHERE placed AND at_6)
    FROM outcome_counted GROUP BY dimension, grp
    ON CONFLICT DO NOTHING;
INSERT INTO outcome_workers (dimension, grp, worker_id, referrals, placements)
    SELECT dimension, grp, worker_id, count(*), count(*) FILTER (WHERE placed)
    FROM outcome_counted GROUP BY dimension, grp, worker_id
    ON CONFLICT DO NOTHING;
INSERT INTO outcome_wage_bands (dimension, grp, wage_band, referrals)
    SELECT dimension, grp, band, count(*) FROM outcome_counted WHERE band IS NOT NULL
    GROUP BY dimension, grp, band
    ON CONFLICT DO NOTHING;
INSERT INTO outcome_wages (dimension, grp, monthly_wage_fen, placements)
    SELECT dimension, grp, wage, count(*) FROM outcome_counted
    WHERE placed AND wage IS NOT NULL GROUP BY dimension, grp, wage
    ON CONFLICT DO NOTHING;
