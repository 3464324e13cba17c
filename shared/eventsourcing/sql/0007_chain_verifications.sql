-- The auditor's verifications of this store's hash chain (shared/audit/jobs.py): started by
-- POST /audit/chain/verifications, run in the background by the copy of the service that took
-- the request, and kept here so the latest verdict survives a restart. A run cut short by a
-- stop is marked 'interrupted'; one cut by a crash keeps 'running' with a heartbeat that no
-- longer moves, and is read (and marked) as interrupted once the heartbeat is stale.
CREATE TABLE IF NOT EXISTS chain_verifications (
    id                  bigserial   PRIMARY KEY,
    requested_by        text        NOT NULL,  -- the auditor organisation's id
    requested_at        timestamptz NOT NULL DEFAULT now(),
    heartbeat_at        timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    state               text        NOT NULL DEFAULT 'running'
                        CHECK (state IN ('running', 'verified', 'broken', 'unsealed',
                                         'failed', 'interrupted')),
    checked             bigint      NOT NULL DEFAULT 0,
    total               bigint      NOT NULL DEFAULT 0,
    first_bad_position  bigint,
    reason              text,
    seals_checked       boolean     NOT NULL DEFAULT false,
    sealed_position     bigint,
    sealed_hash         bytea,
    sealed_at           timestamptz,
    refused_seals       integer     NOT NULL DEFAULT 0
);
