-- Jobs that re-derive ledger lines off the request path (services/funding/jobs.py): a policy
-- publication records one in its own transaction; the service's job runner works through
-- them one at a time, in ``seq`` order, a chunk of workers per transaction, and a restarted
-- service continues from ``cursor`` (the last worker id done, in byte order).
CREATE TABLE IF NOT EXISTS funding_jobs (
    seq             bigserial   UNIQUE,
    job_id          uuid        PRIMARY KEY,
    kind            text        NOT NULL,
    cause_event_id  uuid        NOT NULL,
    state           text        NOT NULL DEFAULT 'queued'
                                CHECK (state IN ('queued', 'running', 'done', 'failed')),
    workers_done    integer     NOT NULL DEFAULT 0,
    workers_total   integer,    -- counted when the job starts
    cursor          text,       -- the last worker id done; NULL before the first chunk
    metadata        jsonb       NOT NULL,  -- why the lines it changes are published
    failures        integer     NOT NULL DEFAULT 0,  -- consecutive failed chunks
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- The runner's question, asked every poll: the oldest job not finished.
CREATE INDEX IF NOT EXISTS funding_jobs_unfinished ON funding_jobs (seq)
    WHERE state IN ('queued', 'running');
