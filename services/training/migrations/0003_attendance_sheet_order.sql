-- A class's attendance sheet is paged in (session_date, session_id, worker_id,
-- attendance_id) order: this index serves the class filter, the cursor and the order, so a
-- page reads its own rows only. It also serves every other look-up by class, which the
-- class-only index served.
CREATE INDEX IF NOT EXISTS attendance_sheet_by_class_in_order
    ON attendance_sheet (class_id, session_date, session_id, worker_id, attendance_id);
DROP INDEX IF EXISTS attendance_by_class;
