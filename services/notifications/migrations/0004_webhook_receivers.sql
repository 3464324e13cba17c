-- The claim takes the next due deliveries of each webhook (a few per receiver, so one slow
-- receiver cannot hold them all); this index finds them without reading other webhooks' rows.
CREATE INDEX IF NOT EXISTS webhook_deliveries_due_by_webhook
    ON webhook_deliveries (webhook_id, not_before, created_at)
    WHERE state IN ('pending', 'claimed');
