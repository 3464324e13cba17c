-- The append-only event store. One per service database.
CREATE TABLE IF NOT EXISTS events (
    position        bigint      PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    version         integer     NOT NULL CHECK (version >= 1),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL,
    hash            bytea       NOT NULL,
    UNIQUE (stream_id, version)
);

-- One row that every writer locks: it serialises appends, so positions are handed out and
-- committed in the same order (a reader tailing by position never skips a late commit),
-- and it holds the hash the next event chains from.
CREATE TABLE IF NOT EXISTS event_head (
    id             smallint PRIMARY KEY CHECK (id = 1),
    last_position  bigint   NOT NULL,
    last_hash      bytea    NOT NULL
);
INSERT INTO event_head (id, last_position, last_hash)
VALUES (1, 0, '\x'::bytea)
ON CONFLICT (id) DO NOTHING;
