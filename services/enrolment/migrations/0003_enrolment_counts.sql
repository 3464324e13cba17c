-- Live enrolments counted by site, occupation, gender and level: what GET
-- /statistics/enrolments answers, a page at a time in primary-key order, without reading the
-- enrolments. Kept by the projection of WorkerEnrolled (+1) and EnrolmentWithdrawn (-1) in
-- the transaction that appends them; a group whose count falls to zero is deleted, so every
-- row is a group with live enrolments. A worker registered without a work site counts under
-- '' for its parts (a key part cannot be NULL; a site's parts are never empty); the route
-- answers them as null.
CREATE TABLE IF NOT EXISTS enrolment_counts (
    province         text    NOT NULL,
    city             text    NOT NULL,
    site_name        text    NOT NULL,
    occupation_code  text    NOT NULL,
    gender           text    NOT NULL,
    level            integer NOT NULL,
    workers          integer NOT NULL CHECK (workers >= 0),
    PRIMARY KEY (province, city, site_name, occupation_code, gender, level)
);

-- An existing store gets its counts from the enrolments it already holds.
INSERT INTO enrolment_counts (province, city, site_name, occupation_code, gender, level,
                              workers)
SELECT coalesce(p.province, ''), coalesce(p.city, ''), coalesce(p.site_name, ''),
       e.occupation_code, p.gender, e.target_level, count(*)
FROM enrolments e JOIN worker_profiles p USING (worker_id)
WHERE e.withdrawn_on IS NULL
GROUP BY 1, 2, 3, 4, 5, 6
ON CONFLICT DO NOTHING;

-- A worker's training record reads their surveys in this order.
CREATE INDEX IF NOT EXISTS intake_surveys_by_worker
    ON intake_surveys (worker_id, surveyed_on, survey_id);
