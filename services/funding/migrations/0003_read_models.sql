-- The read models of the settled ledger, kept current in the transaction of every change
-- (services/funding/read_models.py): each recorded line's status, what is left to pay, its
-- batch and fund; the funds' running figures; the batches, their objections and
-- instructions; and what funding's own disbursement events say of each line. Equal, at every
-- commit, to ``settle`` over the recorded lines and funding's own events.
ALTER TABLE funding_ledger
    ADD COLUMN IF NOT EXISTS status        text,     -- NULL: not settled yet (backfill)
    ADD COLUMN IF NOT EXISTS payable_fen   bigint    NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS fund          text,
    ADD COLUMN IF NOT EXISTS batch_id      text,
    ADD COLUMN IF NOT EXISTS held          boolean   NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS withheld      boolean   NOT NULL DEFAULT false,
    -- set while the line is in the first-come-first-served budget queue (due, never charged
    -- to a fund): its due time there, so the queue's order is known before a revision
    ADD COLUMN IF NOT EXISTS queued_at     timestamptz;

-- The order every ledger page is read in (byte order, as the cursor compares), and the claim's lines (a claim is the first three).
CREATE UNIQUE INDEX IF NOT EXISTS funding_ledger_claim_order
    ON funding_ledger (class_id COLLATE "C", worker_id COLLATE "C", rule COLLATE "C", seq);
CREATE INDEX IF NOT EXISTS funding_ledger_worker_order
    ON funding_ledger (worker_id COLLATE "C", class_id COLLATE "C", rule COLLATE "C", seq);
CREATE INDEX IF NOT EXISTS funding_ledger_payee_order
    ON funding_ledger (payee_id COLLATE "C", class_id COLLATE "C", worker_id COLLATE "C", rule COLLATE "C", seq);
CREATE INDEX IF NOT EXISTS funding_ledger_fund_order
    ON funding_ledger (fund COLLATE "C", class_id COLLATE "C", worker_id COLLATE "C", rule COLLATE "C", seq);
CREATE INDEX IF NOT EXISTS funding_ledger_status_order
    ON funding_ledger (status COLLATE "C", class_id COLLATE "C", worker_id COLLATE "C", rule COLLATE "C", seq);
-- The budget queue, in its first-come-first-served order; its funded part apart.
CREATE INDEX IF NOT EXISTS funding_ledger_queue
    ON funding_ledger (queued_at, line_id COLLATE "C") WHERE queued_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS funding_ledger_queue_funded
    ON funding_ledger (queued_at, line_id COLLATE "C") INCLUDE (fund, payable_fen)
    WHERE queued_at IS NOT NULL AND fund IS NOT NULL;
CREATE INDEX IF NOT EXISTS funding_ledger_queue_waiting
    ON funding_ledger (queued_at, line_id COLLATE "C") WHERE queued_at IS NOT NULL AND fund IS NULL;

-- Each fund's running figures. ``committed_fen``/``paid_fen``/``recovered_fen``: what the
-- claims' decided lines (approved, instructed, paid, recovered) hold; ``queued_fen``: what
-- the budget queue's funded lines reserve. ``refs`` counts what names the fund (allocations,
-- claims' figures, queued lines): a fund is listed while anything does, as ``settle`` lists it.
CREATE TABLE IF NOT EXISTS funding_funds (
    fund            text   PRIMARY KEY,
    allocated_fen   bigint NOT NULL DEFAULT 0,
    committed_fen   bigint NOT NULL DEFAULT 0,
    queued_fen      bigint NOT NULL DEFAULT 0,
    paid_fen        bigint NOT NULL DEFAULT 0,
    recovered_fen   bigint NOT NULL DEFAULT 0,
    refs            bigint NOT NULL DEFAULT 0
);

-- What each claim's decided lines hold of each fund (``settle`` of the claim alone).
CREATE TABLE IF NOT EXISTS funding_claim_funds (
    rule            text   NOT NULL,
    class_id        text   NOT NULL,
    worker_id       text   NOT NULL,
    fund            text   NOT NULL,
    committed_fen   bigint NOT NULL,
    paid_fen        bigint NOT NULL,
    recovered_fen   bigint NOT NULL,
    PRIMARY KEY (class_id, worker_id, rule, fund)
);

-- Funding's own disbursement events as they bear on one line: each event cut down to that
-- line (a batch's approval of it, its item of an instruction, the confirmation's word on it,
-- an objection, a resolution, a recovery). A line's disbursement state is a function of these
-- alone, so a claim is settled again from its lines' facts, never from every event.
CREATE TABLE IF NOT EXISTS funding_line_facts (
    line_id     text  NOT NULL,
    event_type  text  NOT NULL,
    fact_id     text  NOT NULL,   -- the batch, instruction, objection or recovery id
    data        jsonb NOT NULL,
    PRIMARY KEY (line_id, event_type, fact_id)
);
CREATE INDEX IF NOT EXISTS funding_line_facts_fact ON funding_line_facts (event_type, fact_id);

CREATE TABLE IF NOT EXISTS funding_batches (
    batch_id   text  PRIMARY KEY,
    approved   jsonb NOT NULL,
    notice     jsonb
);
CREATE TABLE IF NOT EXISTS funding_batch_lines (
    batch_id   text NOT NULL,
    line_id    text NOT NULL,
    PRIMARY KEY (batch_id, line_id)
);
CREATE INDEX IF NOT EXISTS funding_batch_lines_line ON funding_batch_lines (line_id);
CREATE TABLE IF NOT EXISTS funding_objections (
    objection_id  text PRIMARY KEY,
    batch_id      text NOT NULL,
    line_id       text NOT NULL,
    state         text NOT NULL   -- open | upheld | dismissed
);
CREATE INDEX IF NOT EXISTS funding_objections_batch ON funding_objections (batch_id);
CREATE TABLE IF NOT EXISTS funding_instructions (
    instruction_id  text    PRIMARY KEY,
    batch_id        text    NOT NULL,
    confirmed       boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS funding_instructions_batch ON funding_instructions (batch_id);

-- Whether the read models hold the store's ledger: true for a new store; an existing one
-- (lines or funding events recorded before this migration) is filled once from ``settle``
-- under the ledger lock before anything reads or refreshes them (read_models.ensure_ready).
CREATE TABLE IF NOT EXISTS funding_read_models (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    ready      boolean NOT NULL
);
INSERT INTO funding_read_models (ready)
SELECT NOT EXISTS (SELECT FROM funding_ledger)
   AND NOT EXISTS (SELECT FROM events WHERE event_type LIKE 'songji.funding.%')
ON CONFLICT DO NOTHING;
