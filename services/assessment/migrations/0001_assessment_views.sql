-- Assessment's read models. Its own events are projected in the appending transaction;
-- training's (classes, their trainers and outcomes, institutions' partners) through the inbox.

CREATE TABLE IF NOT EXISTS class_views (
    class_id             text PRIMARY KEY,
    institution_id       text NOT NULL,
    occupation_code      text NOT NULL,
    target_level         integer NOT NULL,
    trainer_ids          text[] NOT NULL,
    completed_on         date,
    eligible_worker_ids  text[] NOT NULL DEFAULT '{}'
);

CREATE TABLE IF NOT EXISTS institution_partners (
    institution_id  text PRIMARY KEY,
    partners        text[] NOT NULL
);

-- The last certificate sequence handed out per body code and year; the row lock taken while
-- issuing serialises numbering, and the unique number below is the backstop.
CREATE TABLE IF NOT EXISTS certificate_sequences (
    body_code      text NOT NULL,
    year           integer NOT NULL,
    last_sequence  integer NOT NULL,
    PRIMARY KEY (body_code, year)
);

CREATE TABLE IF NOT EXISTS certificates (
    certificate_id      text PRIMARY KEY,
    certificate_number  text NOT NULL UNIQUE,
    assessment_id       text NOT NULL,
    worker_id           text NOT NULL,
    body_id             text NOT NULL,
    occupation_code     text NOT NULL,
    level               integer NOT NULL,
    certified_on        date NOT NULL,
    revoked_on          date,
    revocation_reason   text
);

CREATE TABLE IF NOT EXISTS results (
    result_id        text PRIMARY KEY,
    assessment_id    text NOT NULL,
    worker_id        text NOT NULL,
    theory_score     integer NOT NULL,
    practical_score  integer NOT NULL,
    passed           boolean NOT NULL,
    voided_reason    text
);
CREATE INDEX IF NOT EXISTS results_by_assessment ON results (assessment_id);
