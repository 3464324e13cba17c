-- Backfill: the events of a past range, read again from the topics and queued as deliveries
-- (services/notifications/backfill.py). One row per request; its progress is read by GET.
CREATE TABLE IF NOT EXISTS webhook_backfills (
    backfill_id      uuid        PRIMARY KEY,
    webhook_id       uuid        NOT NULL REFERENCES webhooks (webhook_id),
    since_time       timestamptz,
    until_time       timestamptz,
    since_positions  jsonb,      -- {service: position}: events after it
    until_positions  jsonb,      -- {service: position}: events up to it
    redeliver        boolean     NOT NULL DEFAULT false,
    state            text        NOT NULL DEFAULT 'pending',  -- pending | scanning | done | limited | cancelled
    claimed_at       timestamptz,
    records_read     bigint      NOT NULL DEFAULT 0,
    records_refused  bigint      NOT NULL DEFAULT 0,
    events_queued    bigint      NOT NULL DEFAULT 0,
    events_already   bigint      NOT NULL DEFAULT 0,
    next_since_positions jsonb,  -- when limited: since_positions of the request that goes on
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX IF NOT EXISTS webhook_backfills_waiting ON webhook_backfills (created_at)
    WHERE state IN ('pending', 'scanning');

-- A backfilled delivery knows its request, its stream and its place in the request's order:
-- the claim holds back a delivery while an earlier one of its stream in the same request is
-- still pending or in flight, so a stream's backfilled events arrive in order, retries or not.
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS backfill_id uuid;
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS stream text;
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS backfill_seq bigint;
CREATE INDEX IF NOT EXISTS webhook_deliveries_backfill_open
    ON webhook_deliveries (backfill_id, stream, backfill_seq)
    WHERE state IN ('pending', 'claimed');
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_backfill
    ON webhook_deliveries (backfill_id) WHERE backfill_id IS NOT NULL;
