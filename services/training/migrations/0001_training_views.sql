-- Training's read models. Its own events are projected in the transaction that appends them;
-- enrolment's (who is enrolled where) arrive through the inbox.

CREATE TABLE IF NOT EXISTS institutions (
    institution_id  text PRIMARY KEY,
    name            text NOT NULL,
    occupations     text[] NOT NULL,
    accredited_on   date NOT NULL,
    suspended       boolean NOT NULL DEFAULT false
);

CREATE TABLE IF NOT EXISTS class_runs (
    class_id          text PRIMARY KEY,
    institution_id    text NOT NULL,
    occupation_code   text NOT NULL,
    target_level      integer NOT NULL,
    province          text NOT NULL,
    city              text NOT NULL,
    site_name         text NOT NULL,
    mode              text NOT NULL,
    capacity          integer NOT NULL,
    required_minutes  integer NOT NULL,
    approved_on       date,
    completed_on      date
);

-- Who is enrolled in each class, from enrolment's WorkerEnrolled / EnrolmentWithdrawn.
CREATE TABLE IF NOT EXISTS roster (
    enrolment_id  text PRIMARY KEY,
    class_id      text NOT NULL,
    worker_id     text NOT NULL
);
CREATE INDEX IF NOT EXISTS roster_by_class ON roster (class_id);

CREATE TABLE IF NOT EXISTS attendance_sheet (
    attendance_id  text PRIMARY KEY,
    class_id       text NOT NULL,
    session_id     text NOT NULL,
    session_date   date NOT NULL,
    worker_id      text NOT NULL,
    minutes        integer NOT NULL,
    method         text NOT NULL,
    voided_reason  text
);
CREATE INDEX IF NOT EXISTS attendance_by_class ON attendance_sheet (class_id);
