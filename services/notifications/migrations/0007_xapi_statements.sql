-- xAPI statements for a Learning Record Store, written by the xapi consumer in its inbox
-- transaction and sent by the LRS sender (services/notifications/xapi/).

-- What a statement's context needs from events that came before it, as the consumer saw them.
CREATE TABLE IF NOT EXISTS xapi_classes (
    class_id         text    PRIMARY KEY,
    occupation_code  text    NOT NULL,
    target_level     integer NOT NULL
);
CREATE TABLE IF NOT EXISTS xapi_assessments (
    assessment_id    text    PRIMARY KEY,
    class_id         text    NOT NULL,
    occupation_code  text    NOT NULL,
    level            integer NOT NULL
);

CREATE TABLE IF NOT EXISTS xapi_statements (
    statement_id  uuid        PRIMARY KEY,          -- uuid5 of the event id: redelivery adds nothing
    event_id      uuid        NOT NULL,
    ref           text,                             -- kind:id a later voiding names it by
    statement     jsonb       NOT NULL,             -- pseudonymous: worker ids only
    state         text        NOT NULL DEFAULT 'pending',  -- pending | sent | failed
    not_before    timestamptz NOT NULL DEFAULT now(),
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    sent_at       timestamptz
);
CREATE INDEX IF NOT EXISTS xapi_statements_due ON xapi_statements (not_before, created_at)
    WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS xapi_statements_by_ref ON xapi_statements (ref) WHERE ref IS NOT NULL;
