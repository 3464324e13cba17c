-- Every event funding consumed from the other services, exactly as it was recorded at its
-- source (recorded time, stream, version): the ledger is recomputed from this log, and an
-- auditor can rebuild it from the sources' stores or topics and compare.
CREATE TABLE IF NOT EXISTS funding_input_log (
    event_id        uuid        PRIMARY KEY,
    source          text        NOT NULL,
    event_type      text        NOT NULL,
    stream_id       text        NOT NULL,
    stream_version  integer     NOT NULL,
    recorded_at     timestamptz NOT NULL,
    data            jsonb       NOT NULL,
    class_id        text,
    worker_id       text,
    roster          text[]      NOT NULL DEFAULT '{}',  -- trainees, for ClassCompleted
    consumed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS funding_input_log_worker ON funding_input_log (worker_id);
CREATE INDEX IF NOT EXISTS funding_input_log_class ON funding_input_log (class_id);
CREATE INDEX IF NOT EXISTS funding_input_log_roster ON funding_input_log USING gin (roster);

-- The derived ledger lines (statuses are derived on read from funding's own events).
-- ``revision`` counts publications of the line: 1 normally; more only if an event recorded
-- earlier at its source arrived after the line was published and changed it.
CREATE TABLE IF NOT EXISTS funding_ledger (
    line_id           text        PRIMARY KEY,
    seq               integer     NOT NULL,
    kind              text        NOT NULL,
    rule              text        NOT NULL,
    class_id          text        NOT NULL,
    worker_id         text        NOT NULL,
    payee_kind        text        NOT NULL,
    payee_id          text        NOT NULL,
    amount_fen        bigint      NOT NULL,
    policy_id         text        NOT NULL,
    policy_version    integer     NOT NULL,
    justified_by      jsonb       NOT NULL,
    corrects_line_id  text,
    due_at            timestamptz NOT NULL,
    note              text        NOT NULL DEFAULT '',
    revision          integer     NOT NULL DEFAULT 1,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS funding_ledger_worker ON funding_ledger (worker_id);
CREATE INDEX IF NOT EXISTS funding_ledger_class ON funding_ledger (class_id);
CREATE INDEX IF NOT EXISTS funding_ledger_payee ON funding_ledger (payee_id);
