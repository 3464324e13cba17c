-- Integrators' webhooks. The secret must be usable to sign, so it cannot be hashed: it is
-- kept encrypted (Fernet, key SONGJI_WEBHOOK_SECRET_KEY) and shown once, at registration.
CREATE TABLE IF NOT EXISTS webhooks (
    webhook_id     uuid        PRIMARY KEY,
    url            text        NOT NULL,
    event_types    text[]      NOT NULL,
    description    text,
    secret_sealed  bytea       NOT NULL,
    registered_by  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz
);
CREATE INDEX IF NOT EXISTS webhooks_active_types ON webhooks USING gin (event_types)
    WHERE deleted_at IS NULL;

-- One delivery per (webhook, event), written in the inbox transaction of the event.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id   uuid        PRIMARY KEY,
    webhook_id    uuid        NOT NULL REFERENCES webhooks (webhook_id),
    event_id      uuid        NOT NULL,
    event_type    text        NOT NULL,
    cloudevent    jsonb       NOT NULL,   -- structured mode; event data carry no personal data
    state         text        NOT NULL,   -- pending | claimed | delivered | failed | cancelled
    not_before    timestamptz NOT NULL DEFAULT now(),
    claim_token   uuid,
    claimed_at    timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    last_status   integer,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (not_before)
    WHERE state IN ('pending', 'claimed');

CREATE TABLE IF NOT EXISTS webhook_attempts (
    attempt_id    bigserial   PRIMARY KEY,
    delivery_id   uuid        NOT NULL REFERENCES webhook_deliveries (delivery_id),
    attempt       integer     NOT NULL,
    outcome       text        NOT NULL,   -- delivered | transient_error | permanent_error
    status_code   integer,
    error_code    text,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_attempts_by_delivery ON webhook_attempts (delivery_id);
