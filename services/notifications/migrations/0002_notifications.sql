-- What notifications remembers from the bus to address its notices (ids and facts only).
CREATE TABLE IF NOT EXISTS known_classes (
    class_id   text  PRIMARY KEY,
    scheduled  jsonb NOT NULL,           -- the ClassScheduled data: sessions, site, mode
    event_id   uuid  NOT NULL
);

CREATE TABLE IF NOT EXISTS known_enrolments (
    enrolment_id  text    PRIMARY KEY,
    worker_id     text    NOT NULL,
    class_id      text    NOT NULL,
    withdrawn     boolean NOT NULL DEFAULT false,
    event_id      uuid    NOT NULL
);
CREATE INDEX IF NOT EXISTS known_enrolments_by_class ON known_enrolments (class_id);

-- Payment instructions (who is paid what, by line) and their confirmations, either order.
CREATE TABLE IF NOT EXISTS payment_instructions (
    instruction_id  text  PRIMARY KEY,
    items           jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS payment_confirmations (
    instruction_id  text        PRIMARY KEY,
    confirmed       jsonb       NOT NULL,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    event_time      timestamptz NOT NULL,
    correlation_id  text        NOT NULL
);

-- The outbox of notices, written in the inbox transaction of the event that called for them.
-- One row per (event, recipient, kind, ref): a redelivered event can never add a second.
-- States: awaiting_gender -> pending | dropped; pending -> claimed -> sent | failed | expired;
-- pending -> cancelled (the worker withdrew). A claim older than the claim timeout is taken
-- over, so a sender that crashed mid-send resends at most the notices it had claimed.
CREATE TABLE IF NOT EXISTS notifications (
    notification_id    uuid        PRIMARY KEY,
    source_event_id    uuid        NOT NULL,
    source_event_type  text        NOT NULL,
    correlation_id     text        NOT NULL,
    recipient_kind     text        NOT NULL CHECK (recipient_kind IN ('worker', 'department')),
    recipient_id       text        NOT NULL,
    kind               text        NOT NULL,
    ref                text        NOT NULL DEFAULT '',
    params             jsonb       NOT NULL,
    urgent             boolean     NOT NULL DEFAULT false,
    not_before         timestamptz NOT NULL,
    expires_at         timestamptz,
    worker_id          text,
    class_id           text,
    awaits_worker_id   text,
    state              text        NOT NULL,
    claim_token        uuid,
    claimed_at         timestamptz,
    attempts           integer     NOT NULL DEFAULT 0,
    channel            text,
    outcome            text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    UNIQUE (source_event_id, recipient_id, kind, ref)
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (not_before)
    WHERE state IN ('pending', 'claimed');
CREATE INDEX IF NOT EXISTS notifications_awaiting ON notifications (awaits_worker_id)
    WHERE state = 'awaiting_gender';
CREATE INDEX IF NOT EXISTS notifications_by_worker_class ON notifications (worker_id, class_id);

-- Every attempt and its outcome. No address, no text: ids, channel, outcome, a short code.
CREATE TABLE IF NOT EXISTS delivery_attempts (
    attempt_id       bigserial   PRIMARY KEY,
    notification_id  uuid        NOT NULL REFERENCES notifications (notification_id),
    attempt          integer     NOT NULL,
    channel          text,
    outcome          text        NOT NULL,  -- delivered | transient_error | permanent_error
                                            -- | deferred (outside the contact window)
    error_code       text,
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS delivery_attempts_by_notification
    ON delivery_attempts (notification_id, attempt_id);
