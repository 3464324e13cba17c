-- The shared records every recompute reads (assessment bodies), found by type: without it
-- each recompute of one worker scanned the whole input log (records.input_rows).
CREATE INDEX IF NOT EXISTS funding_input_log_type ON funding_input_log (event_type);
