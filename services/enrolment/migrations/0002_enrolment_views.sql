-- Enrolment's read models. Its own events are projected in the transaction that appends them;
-- training's and assessment's arrive through the inbox. No personal data in any of these.

CREATE TABLE IF NOT EXISTS worker_profiles (
    worker_id        text PRIMARY KEY,
    gender           text NOT NULL,
    birth_year       integer NOT NULL,
    hometown_county  text,
    province         text,
    city             text,
    site_name        text
);

CREATE TABLE IF NOT EXISTS intake_surveys (
    survey_id            text PRIMARY KEY,
    worker_id            text NOT NULL,
    desired_occupations  text[] NOT NULL,
    availability         text[] NOT NULL,
    earliest_start       date NOT NULL,
    surveyed_on          date NOT NULL
);

CREATE TABLE IF NOT EXISTS enrolments (
    enrolment_id       text PRIMARY KEY,
    worker_id          text NOT NULL,
    class_id           text NOT NULL,
    occupation_code    text NOT NULL,
    target_level       integer NOT NULL,
    enrolled_on        date NOT NULL,
    withdrawn_on       date,
    withdrawal_reason  text
);
CREATE INDEX IF NOT EXISTS enrolments_live_by_class ON enrolments (class_id)
    WHERE withdrawn_on IS NULL;
CREATE INDEX IF NOT EXISTS enrolments_by_worker ON enrolments (worker_id);

-- Training's classes as enrolment needs them (ClassScheduled / ClassApproved / ClassCompleted).
CREATE TABLE IF NOT EXISTS class_views (
    class_id            text PRIMARY KEY,
    institution_id      text NOT NULL,
    occupation_code     text NOT NULL,
    target_level        integer NOT NULL,
    capacity            integer NOT NULL,
    first_session_date  date NOT NULL,
    approved            boolean NOT NULL DEFAULT false,
    completed           boolean NOT NULL DEFAULT false
);

-- Assessment's certificates (SkillLevelCertified / CertificationRevoked).
CREATE TABLE IF NOT EXISTS worker_certificates (
    certificate_id      text PRIMARY KEY,
    certificate_number  text NOT NULL,
    worker_id           text NOT NULL,
    occupation_code     text NOT NULL,
    level               integer NOT NULL,
    certified_on        date NOT NULL,
    revoked_on          date
);
CREATE INDEX IF NOT EXISTS worker_certificates_by_worker ON worker_certificates (worker_id);
