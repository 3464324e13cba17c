-- What a batch of check-ins is decided with, in one round trip (the check-ins of separate
-- requests written together, shared/runtime/batches.py, and a session register): each class's
-- stream once, and which of the batch's trainees are on their class's roster, read after the
-- shared lock on every class of the batch (as training_check_in_facts, 0003, takes it for
-- one). Shared locks never wait for each other, so taking several cannot deadlock with
-- another batch; a completion's exclusive lock waits until the batch commits. A PL/pgSQL
-- function reads with a new snapshot after the locks are granted, so a completion that
-- committed while the batch waited is seen.
-- Rows: a class's events (worker_id null), in version order, and one row per trainee found
-- on the roster (event_type and data null).
CREATE OR REPLACE FUNCTION training_check_in_facts_of_many(p_class_ids text[],
                                                           p_worker_ids text[])
RETURNS TABLE (class_id text, event_type text, data jsonb, worker_id text)
LANGUAGE plpgsql AS $$
DECLARE
    v_class text;
BEGIN
    FOR v_class IN SELECT DISTINCT c FROM unnest(p_class_ids) AS c ORDER BY c LOOP
        PERFORM pg_advisory_xact_lock_shared(
            hashtextextended('songji.training.class:' || v_class, 0));
    END LOOP;
    RETURN QUERY
        SELECT c.class_id, e.event_type, e.data, NULL::text
          FROM (SELECT DISTINCT u AS class_id FROM unnest(p_class_ids) AS u) AS c
          JOIN events e ON e.stream_id = 'class-' || c.class_id
         ORDER BY c.class_id, e.version;
    RETURN QUERY
        SELECT DISTINCT r.class_id, NULL::text, NULL::jsonb, r.worker_id
          FROM unnest(p_class_ids, p_worker_ids) AS u(class_id, worker_id)
          JOIN roster r ON r.class_id = u.class_id AND r.worker_id = u.worker_id;
END;
$$;
