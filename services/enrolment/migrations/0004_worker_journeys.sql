-- Each worker's journey, one row per worker: registered -> surveyed -> enrolled -> trained
-- (their class completed, with their attendance) -> certified -> paid. What GET /journeys
-- answers, a page at a time in key order (province, city, site_name, worker_id), so a
-- station's page is an index range scan over its own sites. No personal data: ids, dates,
-- the class and its outcome only.
--
-- The journey follows the worker's newest live enrolment: its class's first session, the
-- attendance training reports (live from AttendanceRecorded/AttendanceVoided, final from
-- ClassCompleted), the certificate assessment issues for that class, and funding's payment of
-- a line for that class. A withdrawal takes the worker back to before enrolment. A worker
-- registered without a work site is kept under '' for its parts (no station's scope covers it).
CREATE TABLE IF NOT EXISTS worker_journeys (
    worker_id           text    PRIMARY KEY,
    province            text    NOT NULL,
    city                text    NOT NULL,
    site_name           text    NOT NULL,
    surveyed_on         date,
    enrolment_id        text,
    class_id            text,
    occupation_code     text,
    target_level        integer,
    enrolled_on         date,
    class_starts_on     date,
    attended_minutes    integer NOT NULL DEFAULT 0 CHECK (attended_minutes >= 0),
    required_minutes    integer,
    attendance_percent  integer,  -- final, from ClassCompleted (rounded down)
    met_threshold       boolean,
    completed_on        date,
    certificate_id      text,
    certified_on        date,
    paid_on             date,
    stage               text GENERATED ALWAYS AS (
        CASE WHEN enrolment_id IS NULL THEN
                 CASE WHEN surveyed_on IS NULL THEN 'registered' ELSE 'surveyed' END
             WHEN paid_on IS NOT NULL THEN 'paid'
             WHEN certified_on IS NOT NULL THEN 'certified'
             WHEN completed_on IS NOT NULL THEN 'trained'
             ELSE 'enrolled' END) STORED
);
CREATE INDEX IF NOT EXISTS worker_journeys_by_site
    ON worker_journeys (province, city, site_name, worker_id);
CREATE INDEX IF NOT EXISTS worker_journeys_by_stage
    ON worker_journeys (stage, province, city, site_name, worker_id);
CREATE INDEX IF NOT EXISTS worker_journeys_by_enrolment ON worker_journeys (enrolment_id);
CREATE INDEX IF NOT EXISTS worker_journeys_by_class ON worker_journeys (class_id);

-- Training's attendance records, so a void (which names the record, not its minutes) takes
-- its minutes back out of the worker's journey.
CREATE TABLE IF NOT EXISTS journey_attendance (
    attendance_id  text    PRIMARY KEY,
    worker_id      text    NOT NULL,
    class_id       text    NOT NULL,
    minutes        integer NOT NULL,
    voided         boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS journey_attendance_by_worker
    ON journey_attendance (worker_id, class_id);

-- Funding's facts about paying a worker's class, each kept as it arrives (whatever the order
-- of its topic's partitions): the ledger lines for a worker's class (PayoutDue), the lines each
-- payment instruction carries (PaymentInstructionIssued; a line the bank rejected may be
-- carried again by a later one), and the bank's confirmations (PaymentConfirmed).
CREATE TABLE IF NOT EXISTS journey_payout_lines (
    line_id    text PRIMARY KEY,
    worker_id  text NOT NULL,
    class_id   text NOT NULL
);
CREATE INDEX IF NOT EXISTS journey_payout_lines_by_class
    ON journey_payout_lines (worker_id, class_id);
CREATE TABLE IF NOT EXISTS journey_instructed_lines (
    line_id         text NOT NULL,
    instruction_id  text NOT NULL,
    PRIMARY KEY (line_id, instruction_id)
);
CREATE INDEX IF NOT EXISTS journey_instructed_lines_by_instruction
    ON journey_instructed_lines (instruction_id);
CREATE TABLE IF NOT EXISTS journey_confirmed_instructions (
    instruction_id   text   PRIMARY KEY,
    confirmed_on     date   NOT NULL,
    failed_line_ids  text[] NOT NULL
);

-- The class's required hours, for the live attendance percentage (NULL for a class
-- scheduled before this column: its percentage waits for ClassCompleted).
ALTER TABLE class_views ADD COLUMN IF NOT EXISTS required_minutes integer;

-- An existing store gets its journeys from what it already holds (live attendance and
-- payments are not there: they fill in as events arrive).
INSERT INTO worker_journeys (worker_id, province, city, site_name, surveyed_on, enrolment_id,
                             class_id, occupation_code, target_level, enrolled_on,
                             class_starts_on, certificate_id, certified_on)
SELECT p.worker_id, coalesce(p.province, ''), coalesce(p.city, ''), coalesce(p.site_name, ''),
       (SELECT max(s.surveyed_on) FROM intake_surveys s WHERE s.worker_id = p.worker_id),
       e.enrolment_id, e.class_id, e.occupation_code, e.target_level, e.enrolled_on,
       c.first_session_date, cert.certificate_id, cert.certified_on
FROM worker_profiles p
LEFT JOIN LATERAL (SELECT * FROM enrolments e WHERE e.worker_id = p.worker_id
                   AND e.withdrawn_on IS NULL
                   ORDER BY e.enrolled_on DESC, e.enrolment_id DESC LIMIT 1) e ON true
LEFT JOIN class_views c ON c.class_id = e.class_id
LEFT JOIN LATERAL (SELECT certificate_id, certified_on FROM worker_certificates w
                   WHERE w.worker_id = p.worker_id AND w.revoked_on IS NULL
                     AND w.occupation_code = e.occupation_code
                     AND w.level = e.target_level
                   ORDER BY w.certified_on DESC LIMIT 1) cert ON true
ON CONFLICT (worker_id) DO NOTHING;
