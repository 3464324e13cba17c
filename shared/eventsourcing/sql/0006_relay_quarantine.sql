-- Events the broker refused for good (too large for it, an invalid topic, a corrupt record):
-- the relay records each here with the reason and moves on past it, so one such event never
-- stops the others. An operator re-drives one once the cause is fixed (`songji dlq replay
-- --quarantined`): that sets redrive_requested_at, and the service's relay publishes it again
-- and sets redriven_at (or records the new reason, when the broker refuses it again).
CREATE TABLE IF NOT EXISTS relay_quarantine (
    topic                 text        NOT NULL,
    position              bigint      NOT NULL,
    event_id              uuid        NOT NULL,
    stream_id             text        NOT NULL,
    event_type            text        NOT NULL,
    reason                text        NOT NULL,
    attempts              integer     NOT NULL DEFAULT 1,
    quarantined_at        timestamptz NOT NULL DEFAULT now(),
    redrive_requested_at  timestamptz,
    redriven_at           timestamptz,
    PRIMARY KEY (topic, position)
);

CREATE INDEX IF NOT EXISTS relay_quarantine_redrive
    ON relay_quarantine (topic, position) WHERE redrive_requested_at IS NOT NULL
                                            AND redriven_at IS NULL;
