-- The list of classes (GET /classes) and its statistics (GET /statistics/classes).
--
-- class_runs gains what a list item shows: the first and last session dates, how many
-- trainees are on the roster, how many met the attendance threshold at completion, and the
-- state, derived from the approval and completion dates so it can never disagree with them.
ALTER TABLE class_runs
    ADD COLUMN IF NOT EXISTS first_session_date date,
    ADD COLUMN IF NOT EXISTS last_session_date date,
    ADD COLUMN IF NOT EXISTS enrolled integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS met_threshold integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS state text GENERATED ALWAYS AS (
        CASE WHEN completed_on IS NOT NULL THEN 'completed'
             WHEN approved_on IS NOT NULL THEN 'approved'
             ELSE 'awaiting_approval' END) STORED;

-- Classes scheduled before this migration: their dates from their ClassScheduled event, their
-- trainees from the roster and from their ClassCompleted event.
UPDATE class_runs c
   SET first_session_date = d.first_date, last_session_date = d.last_date
  FROM (SELECT e.data->>'class_id' AS class_id,
               min((s->>'date')::date) AS first_date, max((s->>'date')::date) AS last_date
          FROM events e, jsonb_array_elements(e.data->'sessions') s
         WHERE e.event_type LIKE 'songji.training.ClassScheduled.v%'
         GROUP BY 1) d
 WHERE c.class_id = d.class_id;
UPDATE class_runs c SET enrolled = r.n
  FROM (SELECT class_id, count(*)::integer AS n FROM roster GROUP BY class_id) r
 WHERE c.class_id = r.class_id;
UPDATE class_runs c SET met_threshold = m.n
  FROM (SELECT e.data->>'class_id' AS class_id,
               count(*) FILTER (WHERE (t->>'met_threshold')::boolean)::integer AS n
          FROM events e, jsonb_array_elements(e.data->'trainees') t
         WHERE e.event_type LIKE 'songji.training.ClassCompleted.v%'
         GROUP BY 1) m
 WHERE c.class_id = m.class_id;

-- A page of the list is a range of one of these indexes: the filters given, then the key
-- (class_id). Without filters the primary key serves.
CREATE INDEX IF NOT EXISTS class_runs_by_institution
    ON class_runs (institution_id, class_id);
CREATE INDEX IF NOT EXISTS class_runs_by_institution_and_state
    ON class_runs (institution_id, state, class_id);
CREATE INDEX IF NOT EXISTS class_runs_by_state ON class_runs (state, class_id);

-- Classes and their trainees counted by destination, occupation, level and state: each class
-- counts once, in the group of its current state, with its roster (trainees) and, once
-- completed, those who met the attendance threshold. Kept with class_runs in the same
-- transactions (services/training/statistics.py); a group left with no class is deleted.
CREATE TABLE IF NOT EXISTS class_counts (
    province         text NOT NULL,
    city             text NOT NULL,
    occupation_code  text NOT NULL,
    level            integer NOT NULL,
    state            text NOT NULL,
    classes          integer NOT NULL,
    trainees         integer NOT NULL,
    met_threshold    integer NOT NULL,
    PRIMARY KEY (province, city, occupation_code, level, state)
);
INSERT INTO class_counts (province, city, occupation_code, level, state, classes, trainees,
                          met_threshold)
SELECT province, city, occupation_code, target_level, state, count(*), sum(enrolled),
       sum(met_threshold)
  FROM class_runs
 GROUP BY province, city, occupation_code, target_level, state
ON CONFLICT DO NOTHING;
