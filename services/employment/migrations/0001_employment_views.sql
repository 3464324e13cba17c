-- Employment's read models. Its own events (vacancies, referrals, placements, follow-ups) are
-- projected in the appending transaction; enrolment's and assessment's (who a worker is, in
-- pseudonymous facts, and what they are certified in) through the inbox. No personal data:
-- workers are worker ids, employers organisations' names.

-- A worker as matching needs them: from WorkerRegistered (gender, work site) and the latest
-- IntakeSurveyRecorded (availability, the wage band they told). Either may arrive first.
CREATE TABLE IF NOT EXISTS worker_facts (
    worker_id     text PRIMARY KEY,
    gender        text,
    province      text,
    city          text,
    site_name     text,
    availability  text[] NOT NULL DEFAULT '{}',
    wage_band     text,
    surveyed_on   date
);

CREATE TABLE IF NOT EXISTS worker_certificates (
    certificate_id   text PRIMARY KEY,
    worker_id        text NOT NULL,
    occupation_code  text NOT NULL,
    level            integer NOT NULL,
    revoked          boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS worker_certificates_by_occupation
    ON worker_certificates (occupation_code, level) WHERE NOT revoked;
CREATE INDEX IF NOT EXISTS worker_certificates_by_worker ON worker_certificates (worker_id);

CREATE TABLE IF NOT EXISTS vacancies (
    vacancy_id       text PRIMARY KEY,
    employer         text NOT NULL,
    province         text NOT NULL,
    city             text NOT NULL,
    site_name        text NOT NULL,
    occupation_code  text NOT NULL,
    minimum_level    integer NOT NULL,
    headcount        integer NOT NULL,
    wage_min_fen     bigint NOT NULL,
    wage_max_fen     bigint NOT NULL,
    shift_pattern    text NOT NULL,
    starts_on        date NOT NULL,
    closes_on        date NOT NULL,
    posted_on        date NOT NULL,
    hired            integer NOT NULL DEFAULT 0,
    ended            text,
    closed_on        date
);
CREATE INDEX IF NOT EXISTS open_vacancies_by_occupation
    ON vacancies (occupation_code, vacancy_id) WHERE ended IS NULL;

-- One row per referral, its course written as it goes: referred, declined, placed, left.
CREATE TABLE IF NOT EXISTS referrals (
    referral_id       text PRIMARY KEY,
    vacancy_id        text NOT NULL,
    worker_id         text NOT NULL,
    occupation_code   text NOT NULL,
    level             integer NOT NULL,
    status            text NOT NULL,
    referred_on       date NOT NULL,
    consent_method    text NOT NULL,
    consented_on      date NOT NULL,
    answered_on       date,
    decline_reason    text,
    monthly_wage_fen  bigint,
    starts_on         date
);
CREATE INDEX IF NOT EXISTS referrals_by_vacancy ON referrals (vacancy_id, referral_id);
CREATE INDEX IF NOT EXISTS referrals_by_worker ON referrals (worker_id);

CREATE TABLE IF NOT EXISTS follow_ups (
    referral_id       text NOT NULL,
    month             integer NOT NULL,
    still_employed    boolean NOT NULL,
    monthly_wage_fen  bigint,
    recorded_on       date NOT NULL,
    PRIMARY KEY (referral_id, month)
);

-- The follow-ups a placement still owes, with when each falls due and where the job is: a
-- station's task list is the rows due by today in its sites, in (due_on, referral_id, month)
-- order. Written at the placement, deleted as each is recorded (all, when one says the
-- worker left).
CREATE TABLE IF NOT EXISTS follow_ups_due (
    referral_id  text NOT NULL,
    month        integer NOT NULL,
    due_on       date NOT NULL,
    vacancy_id   text NOT NULL,
    worker_id    text NOT NULL,
    province     text NOT NULL,
    city         text NOT NULL,
    site_name    text NOT NULL,
    PRIMARY KEY (referral_id, month)
);
CREATE INDEX IF NOT EXISTS follow_ups_due_in_order ON follow_ups_due (due_on, referral_id, month);
