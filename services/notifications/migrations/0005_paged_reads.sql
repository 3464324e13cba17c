-- Every list notifications answers is paged in SQL on an index whose columns are the list's
-- filter then its order, so a page reads its own rows only (services/notifications/api.py).

-- GET /workers: (registered_at, worker_id).
CREATE INDEX IF NOT EXISTS known_workers_in_order ON known_workers (registered_at, worker_id);

-- GET /notifications: (created_at, notification_id), filtered by any of kind, state and
-- recipient; each filter has an index that also serves the order. With two filters the
-- planner takes one index and checks the other filter on the rows it reads.
CREATE INDEX IF NOT EXISTS notifications_in_order ON notifications (created_at, notification_id);
CREATE INDEX IF NOT EXISTS notifications_by_kind_in_order
    ON notifications (kind, created_at, notification_id);
CREATE INDEX IF NOT EXISTS notifications_by_state_in_order
    ON notifications (state, created_at, notification_id);
CREATE INDEX IF NOT EXISTS notifications_by_recipient_in_order
    ON notifications (recipient_id, created_at, notification_id);

-- GET /webhooks: live webhooks by (created_at, webhook_id).
CREATE INDEX IF NOT EXISTS webhooks_live_in_order ON webhooks (created_at, webhook_id)
    WHERE deleted_at IS NULL;

-- GET /webhooks/{id}/deliveries: a webhook's deliveries by (created_at, delivery_id); the
-- page's attempts through webhook_attempts_by_delivery.
CREATE INDEX IF NOT EXISTS webhook_deliveries_in_order
    ON webhook_deliveries (webhook_id, created_at, delivery_id);

-- GET /notifications/summary: how many notices of each kind are in each state, kept by the
-- triggers below in the transaction of every statement that inserts, moves or deletes a
-- notice (the inbox's enqueue, the sender's claim and finish, a withdrawal's cancel...), so
-- no writer can forget it. A group that empties keeps its row at 0 (kinds and states are
-- fixed in code: the table stays small) and the route leaves it out. A statement's net change
-- is one upsert, so a count carries no CHECK (the proposed row of an upsert that takes a count
-- down is negative, and would be refused before its conflict is found); a count below zero
-- would be a defect, and the route shows it rather than hide it.
--
-- Each trigger runs once per statement, over its transition tables, and adds the net change of
-- each (kind, state) in byte order (COLLATE "C"): two statements lock the counts they touch in
-- the same order, so they can wait for each other but never deadlock. The one writer that
-- runs several such statements in a transaction, the inbox's enqueue, inserts its notices in
-- the same order (services/notifications/outbox.py). A statement that changes no notice's
-- state changes no count and locks none.
CREATE TABLE IF NOT EXISTS notification_counts (
    kind   text   NOT NULL,
    state  text   NOT NULL,
    count  bigint NOT NULL,
    PRIMARY KEY (kind, state)
);

CREATE OR REPLACE FUNCTION notification_counts_add() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO notification_counts AS c (kind, state, count)
        SELECT kind, state, count(*) FROM added
        GROUP BY kind, state ORDER BY kind COLLATE "C", state COLLATE "C"
        ON CONFLICT (kind, state) DO UPDATE SET count = c.count + excluded.count;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO notification_counts AS c (kind, state, count)
        SELECT kind, state, -count(*) FROM removed
        GROUP BY kind, state ORDER BY kind COLLATE "C", state COLLATE "C"
        ON CONFLICT (kind, state) DO UPDATE SET count = c.count + excluded.count;
    ELSE
        INSERT INTO notification_counts AS c (kind, state, count)
        SELECT kind, state, sum(n) FROM (
            SELECT kind, state, 1 AS n FROM added
            UNION ALL
            SELECT kind, state, -1 AS n FROM removed) moved
        GROUP BY kind, state HAVING sum(n) <> 0 ORDER BY kind COLLATE "C", state COLLATE "C"
        ON CONFLICT (kind, state) DO UPDATE SET count = c.count + excluded.count;
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS notification_counts_on_insert ON notifications;
CREATE TRIGGER notification_counts_on_insert AFTER INSERT ON notifications
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION notification_counts_add();
DROP TRIGGER IF EXISTS notification_counts_on_update ON notifications;
CREATE TRIGGER notification_counts_on_update AFTER UPDATE ON notifications
    REFERENCING OLD TABLE AS removed NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION notification_counts_add();
DROP TRIGGER IF EXISTS notification_counts_on_delete ON notifications;
CREATE TRIGGER notification_counts_on_delete AFTER DELETE ON notifications
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION notification_counts_add();

-- An existing store gets its counts from the notices it already holds. CREATE TRIGGER above
-- waited for every transaction writing notices to end and keeps new ones out until this
-- migration commits, so each notice is counted either here or by the triggers, never both.
INSERT INTO notification_counts (kind, state, count)
SELECT kind, state, count(*) FROM notifications GROUP BY kind, state
ON CONFLICT (kind, state) DO UPDATE SET count = excluded.count;
