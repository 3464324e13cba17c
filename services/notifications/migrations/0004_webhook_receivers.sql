-- The claim takes the next due deliveries of each webhook (a few per receiver, so one slow
-- receiver cannot hold them all). These indexes find them, and count each webhook's claims in
-- flight, without reading other webhooks' rows or a receiver's backlog of later retries.
CREATE INDEX IF NOT EXISTS webhook_deliveries_due_by_webhook
    ON webhook_deliveries (webhook_id, not_before, created_at)
    WHERE state IN ('pending', 'claimed');
CREATE INDEX IF NOT EXISTS webhook_deliveries_claimed_by_webhook
    ON webhook_deliveries (webhook_id, claimed_at)
    WHERE state = 'claimed';
