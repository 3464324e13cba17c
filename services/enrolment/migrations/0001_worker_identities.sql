-- Workers' personal data, sealed; the only place a name, ID number or phone is kept.
CREATE TABLE IF NOT EXISTS worker_identities (
    worker_id          text        PRIMARY KEY,
    national_id_index  bytea       NOT NULL UNIQUE,
    sealed             bytea       NOT NULL,
    registered_at      timestamptz NOT NULL
);
