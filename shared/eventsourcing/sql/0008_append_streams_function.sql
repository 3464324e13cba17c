-- Events of several streams in one append (one round trip): a writer that publishes one
-- event into each of hundreds of streams (a recompute's payout lines) would otherwise pay a
-- round trip, and a turn of the head lock, per stream. The same guarantees as
-- songji_append_batch (0005), from the same head row, so all of them interleave:
--   * the head row is locked to commit: positions are handed out in commit order, gap-free;
--   * every stream must be at the version before its first event here, checked under that
--     lock (so against everything committed before): the first stream, in the call's order,
--     that is not raises SJ409 with DETAIL a JSON object {stream_id, expected, actual}, and
--     nothing is written;
--   * hash = sha256(previous_hash || int8 position || content_hash), as in 0003 and 0005,
--     in the call's order (positions are the first one plus the event's offset).
-- Each event comes with its stream and the version it takes; a stream's events come in the
-- order of their versions, which must be contiguous (a call that breaks this is refused).
-- The types and data arrive joined by U+001E and the content hashes as one bytea, as in 0005;
-- the stream ids as an array (a stream id may hold any character).
CREATE OR REPLACE FUNCTION songji_append_streams(
    p_event_ids       uuid[],
    p_stream_ids      text[],
    p_versions        integer[],
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
    v_count    integer := cardinality(p_event_ids);
    v_types    text[] := string_to_array(p_event_types, E'\x1e');
    v_data     text[] := string_to_array(p_data, E'\x1e');
    v_metadata jsonb := p_metadata::jsonb;
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
           e.schema_version, e.data::jsonb, v_metadata, p_recorded_at, e.hash
      FROM unnest(p_event_ids, p_stream_ids, p_versions, v_types, p_schema_versions, v_data,
                  out_hashes)
           WITH ORDINALITY AS e(event_id, stream_id, version, event_type, schema_version, data,
                                hash, offs);
    UPDATE event_head SET last_position = v_last + v_count, last_hash = v_hash WHERE id = 1;
    PERFORM pg_notify('songji_events', (v_last + v_count)::text);
END;
$$;
