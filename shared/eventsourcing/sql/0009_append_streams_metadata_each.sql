-- songji_append_streams (0008) as it was, except that each event may carry metadata of its
-- own: p_metadata is one canonical JSON object for all (as before), or one per event joined by
-- U+001E, which canonical JSON always writes escaped, so a single object never holds one.
-- Commands of separate requests written in one transaction (shared/runtime/batches.py) each
-- keep their own correlation id and actor, and are appended in one round trip.
CREATE OR REPLACE FUNCTION songji_append_streams(
    p_event_ids       uuid[],
    p_stream_ids      text[],
    p_versions        integer[],
    p_event_types     text,      -- joined by U+001E
    p_schema_versions integer[],
    p_data            text,      -- canonical JSON texts, joined by U+001E
    p_metadata        text,      -- one for all, or one per event joined by U+001E
    p_recorded_at     timestamptz,
    p_content_hashes  bytea,
    OUT out_first     bigint,
    OUT out_hashes    bytea[]
)
LANGUAGE plpgsql AS $$
DECLARE
    v_last     bigint;
    v_hash     bytea;
    v_count    integer := cardinality(p_event_ids);
    v_types    text[] := string_to_array(p_event_types, E'\x1e');
    v_data     text[] := string_to_array(p_data, E'\x1e');
    v_metas    text[] := string_to_array(p_metadata, E'\x1e');
    v_metadata jsonb;
    v_conflict record;
BEGIN
    IF v_count = 0 OR octet_length(p_content_hashes) <> 32 * v_count
       OR cardinality(v_types) <> v_count OR cardinality(v_data) <> v_count
       OR cardinality(p_schema_versions) <> v_count OR cardinality(p_stream_ids) <> v_count
       OR cardinality(p_versions) <> v_count THEN
        RAISE EXCEPTION 'songji_append_streams: % events, % streams, % versions, % types, '
                        '% schema versions, % data, % content hash bytes', v_count,
            cardinality(p_stream_ids), cardinality(p_versions), cardinality(v_types),
            cardinality(p_schema_versions), cardinality(v_data), octet_length(p_content_hashes);
    END IF;
    IF cardinality(v_metas) = 1 THEN
        v_metadata := p_metadata::jsonb;  -- parsed once, shared by every event
    ELSIF cardinality(v_metas) <> v_count THEN
        RAISE EXCEPTION 'songji_append_streams: % events, % metadata', v_count,
            cardinality(v_metas);
    END IF;
    IF EXISTS (SELECT FROM (SELECT u.stream_id, u.version,
                                   lag(u.version) OVER (PARTITION BY u.stream_id
                                                        ORDER BY u.ord) AS before
                              FROM unnest(p_stream_ids, p_versions) WITH ORDINALITY
                                   AS u(stream_id, version, ord)) AS s
                WHERE s.before IS NOT NULL AND s.version <> s.before + 1) THEN
        RAISE EXCEPTION 'songji_append_streams: a stream''s versions do not follow each other';
    END IF;
    SELECT last_position, last_hash INTO v_last, v_hash
      FROM event_head WHERE id = 1 FOR UPDATE;
    SELECT s.stream_id, s.expected, s.actual INTO v_conflict
      FROM (SELECT u.stream_id, min(u.version) - 1 AS expected, min(u.ord) AS first,
                   (SELECT coalesce(max(e.version), 0) FROM events e
                     WHERE e.stream_id = u.stream_id) AS actual
              FROM unnest(p_stream_ids, p_versions) WITH ORDINALITY AS u(stream_id, version, ord)
             GROUP BY u.stream_id) AS s
     WHERE s.actual <> s.expected
     ORDER BY s.first
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'stream % is at version %, expected %', v_conflict.stream_id,
            v_conflict.actual, v_conflict.expected
            USING ERRCODE = 'SJ409',
                  DETAIL = json_build_object('stream_id', v_conflict.stream_id,
                                             'expected', v_conflict.expected,
                                             'actual', v_conflict.actual)::text;
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
    SELECT v_last + e.offs, e.event_id, e.stream_id, e.version, e.event_type,
           e.schema_version, e.data::jsonb, coalesce(v_metadata, v_metas[e.offs]::jsonb),
           p_recorded_at, e.hash
      FROM unnest(p_event_ids, p_stream_ids, p_versions, v_types, p_schema_versions, v_data,
                  out_hashes)
           WITH ORDINALITY AS e(event_id, stream_id, version, event_type, schema_version, data,
                                hash, offs);
    UPDATE event_head SET last_position = v_last + v_count, last_hash = v_hash WHERE id = 1;
    PERFORM pg_notify('songji_events', (v_last + v_count)::text);
END;
$$;
