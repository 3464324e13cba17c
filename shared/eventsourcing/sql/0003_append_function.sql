-- One round trip per append, whatever the number of events: the head lock, the version check,
-- the inserts, the hash chain, the head update and the wake-up of the relay all happen here.
-- The caller computes each event's content hash; the chain adds position and previous hash:
--   hash = sha256(previous_hash || int8 position || content_hash)
CREATE OR REPLACE FUNCTION songji_append(
    p_stream_id       text,
    p_expected        integer,
    p_event_ids       uuid[],
    p_event_types     text[],
    p_schema_versions integer[],
    p_data            text[],
    p_metadata        text,
    p_recorded_at     timestamptz,
    p_content_hashes  bytea[]
) RETURNS TABLE (out_position bigint, out_hash bytea)
LANGUAGE plpgsql AS $$
DECLARE
    v_position bigint;
    v_hash     bytea;
    v_actual   integer;
    v_count    integer := cardinality(p_event_ids);
    v_positions bigint[] := '{}';
    v_hashes    bytea[] := '{}';
BEGIN
    SELECT last_position, last_hash INTO v_position, v_hash
      FROM event_head WHERE id = 1 FOR UPDATE;
    SELECT coalesce(max(version), 0) INTO v_actual FROM events WHERE stream_id = p_stream_id;
    IF v_actual <> p_expected THEN
        RAISE EXCEPTION 'stream % is at version %, expected %', p_stream_id, v_actual, p_expected
            USING ERRCODE = 'SJ409', DETAIL = v_actual::text;
    END IF;
    FOR i IN 1 .. v_count LOOP
        v_position := v_position + 1;
        v_hash := sha256(v_hash || int8send(v_position) || p_content_hashes[i]);
        v_positions := v_positions || v_position;
        v_hashes := v_hashes || v_hash;
    END LOOP;
    INSERT INTO events (position, event_id, stream_id, version, event_type, schema_version,
                        data, metadata, recorded_at, hash)
    SELECT v_positions[i], p_event_ids[i], p_stream_id, p_expected + i, p_event_types[i],
           p_schema_versions[i], p_data[i]::jsonb, p_metadata::jsonb, p_recorded_at,
           v_hashes[i]
      FROM generate_subscripts(p_event_ids, 1) AS i;
    UPDATE event_head SET last_position = v_position, last_hash = v_hash WHERE id = 1;
    PERFORM pg_notify('songji_events', v_position::text);
    RETURN QUERY SELECT unnest(v_positions), unnest(v_hashes);
END;
$$;
