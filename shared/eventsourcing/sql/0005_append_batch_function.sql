-- Several events in one append, cheaper per event than songji_append (0003), which stays for
-- writers still running the code that calls it. Same lock, check, chain and notify; what
-- differs is what crosses the wire and what the loop does:
--   * the content hashes arrive as one bytea, 32 bytes an event, and the types and the data as
--     one text each, joined by U+001E (record separator), instead of arrays of 100 elements,
--     each of which the client encodes and the server decodes one by one. The separator
--     cannot occur inside: canonical JSON writes every control character escaped (\u001e),
--     and a type is songji.<service>.<Name>.v<n>. A count that does not match is refused;
--   * the metadata, shared by every event of an append, is parsed to jsonb once, not per row;
--   * the loop only chains the hashes (positions are the first one plus the event's offset),
--     and the rows are read with unnest, which walks each array once, instead of subscripts;
--   * one row comes back: the first position and the chained hashes as one array.
--   hash = sha256(previous_hash || int8 position || content_hash), as in 0003.
CREATE OR REPLACE FUNCTION songji_append_batch(
    p_stream_id       text,
    p_expected        integer,
    p_event_ids       uuid[],
    p_event_types     text,      -- joined by U+001E
    p_schema_versions integer[],
    p_data            text,      -- canonical JSON texts, joined by U+001E
    p_metadata        text,
    p_recorded_at     timestamptz,
    p_content_hashes  bytea,
    OUT out_first     bigint,
    OUT out_hashes    bytea[]
)
LANGUAGE plpgsql AS $$
DECLARE
    v_last     bigint;
    v_hash     bytea;
    v_actual   integer;
    v_count    integer := cardinality(p_event_ids);
    v_types    text[] := string_to_array(p_event_types, E'\x1e');
    v_data     text[] := string_to_array(p_data, E'\x1e');
    v_metadata jsonb := p_metadata::jsonb;
BEGIN
    IF octet_length(p_content_hashes) <> 32 * v_count OR cardinality(v_types) <> v_count
       OR cardinality(v_data) <> v_count OR cardinality(p_schema_versions) <> v_count THEN
        RAISE EXCEPTION 'songji_append_batch: % events, % types, % schema versions, % data, '
                        '% content hash bytes', v_count, cardinality(v_types),
            cardinality(p_schema_versions), cardinality(v_data), octet_length(p_content_hashes);
    END IF;
    SELECT last_position, last_hash INTO v_last, v_hash
      FROM event_head WHERE id = 1 FOR UPDATE;
    SELECT coalesce(max(version), 0) INTO v_actual FROM events WHERE stream_id = p_stream_id;
    IF v_actual <> p_expected THEN
        RAISE EXCEPTION 'stream % is at version %, expected %', p_stream_id, v_actual, p_expected
            USING ERRCODE = 'SJ409', DETAIL = v_actual::text;
    END IF;
    out_first := v_last + 1;
    out_hashes := '{}';
    FOR i IN 1 .. v_count LOOP
        v_hash := sha256(v_hash || int8send(v_last + i)
                         || substring(p_content_hashes FROM 32 * i - 31 FOR 32));
        out_hashes[i] := v_hash;
    END LOOP;
    INSERT INTO events (position, event_id, stream_id, version, event_type, schema_version,
                        data, metadata, recorded_at, hash)
    SELECT v_last + e.offs, e.event_id, p_stream_id, p_expected + e.offs, e.event_type,
           e.schema_version, e.data::jsonb, v_metadata, p_recorded_at, e.hash
      FROM unnest(p_event_ids, v_types, p_schema_versions, v_data, out_hashes)
           WITH ORDINALITY AS e(event_id, event_type, schema_version, data, hash, offs);
    UPDATE event_head SET last_position = v_last + v_count, last_hash = v_hash WHERE id = 1;
    PERFORM pg_notify('songji_events', (v_last + v_count)::text);
END;
$$;
