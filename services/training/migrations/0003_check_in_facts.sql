-- What a check-in or a void is decided with, in one round trip: the class's stream (its
-- schedule, approval and completion) and whether the trainee is on its roster, read after
-- the check-in's shared lock on the class (services/training/commands.py). A PL/pgSQL
-- function reads with a new snapshot after the lock is granted, so a completion that
-- committed while the check-in waited is seen.
CREATE OR REPLACE FUNCTION training_check_in_facts(p_class_id text, p_worker_id text)
RETURNS TABLE (event_type text, data jsonb, on_roster boolean)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(
        hashtextextended('songji.training.class:' || p_class_id, 0));
    RETURN QUERY
        SELECT e.event_type, e.data,
               EXISTS (SELECT 1 FROM roster r
                       WHERE r.class_id = p_class_id AND r.worker_id = p_worker_id)
          FROM events e
         WHERE e.stream_id = 'class-' || p_class_id
         ORDER BY e.version;
END;
$$;
