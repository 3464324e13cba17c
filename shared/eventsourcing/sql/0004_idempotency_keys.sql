-- Idempotency-Key (shared/runtime/idempotency.py): one row per (acting organisation, key),
-- inserted first in the transaction of the command it guards, so a concurrent duplicate
-- waits on the primary key until the first one commits (then replays its answer) or rolls
-- back (then runs itself). The answer is written in the same transaction as the effect: a
-- committed row always has its answer, and an effect never commits without its row.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    org_id       text        NOT NULL,
    key          text        NOT NULL,
    -- SHA-256 of method, path and canonical body: a retry must be the same request.
    fingerprint  bytea       NOT NULL,
    status_code  integer,
    -- The answer's headers that make it what it is (content type, a file's checksum).
    headers      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- The answer's body; encrypted when it holds what must not be stored in clear
    -- (a bank file, a webhook secret), see ``sealed``.
    body         bytea,
    sealed       boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, key)
);
