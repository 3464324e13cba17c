-- What the outbox relay has published, per topic: the last store position and, per partition,
-- the offset and event id of the last record it wrote (to notice a broker that came back empty).
CREATE TABLE IF NOT EXISTS relay_checkpoint (
    topic       text        PRIMARY KEY,
    position    bigint      NOT NULL,
    offsets     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Every event a consumer applied, written in the same transaction as its effect.
CREATE TABLE IF NOT EXISTS inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    event_type   text        NOT NULL,
    source       text        NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
