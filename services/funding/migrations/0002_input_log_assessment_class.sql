-- An assessment bears only on its own class's trainees: keep its class id in the input log
-- (earlier rows had none), so a recompute reads the assessments of the workers' classes
-- rather than every assessment ever scheduled.
UPDATE funding_input_log SET class_id = data->>'class_id'
WHERE event_type = 'songji.assessment.AssessmentScheduled.v1' AND class_id IS NULL;

-- Completed classes, looked up for every attendance record consumed (attendance of a class
-- not yet completed cannot change money, see records.can_change_lines).
CREATE INDEX IF NOT EXISTS funding_input_log_completed ON funding_input_log (class_id)
    WHERE event_type = 'songji.training.ClassCompleted.v1';

-- Funding's own policies, read for every recompute.
CREATE INDEX IF NOT EXISTS funding_events_type ON events (event_type);
