-- Workers notifications has heard of (pseudonymous: no personal data here either).
CREATE TABLE IF NOT EXISTS known_workers (
    worker_id      text        PRIMARY KEY,
    gender         text        NOT NULL,
    birth_year     integer     NOT NULL,
    registered_at  timestamptz NOT NULL,
    event_id       uuid        NOT NULL
);
