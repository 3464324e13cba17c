-- The assessments scheduled for each class, so an assessment body's task queue can list the
-- completed classes with trainees to assess that no assessment is scheduled for yet, a page
-- at a time from the partial index (its rows are exactly the queue's, in class id order).
ALTER TABLE class_views ADD COLUMN IF NOT EXISTS assessment_ids text[] NOT NULL DEFAULT '{}';

-- An existing store: the assessments it already holds.
UPDATE class_views c SET assessment_ids = a.ids
FROM (SELECT data->>'class_id' AS class_id, array_agg(DISTINCT data->>'assessment_id') AS ids
      FROM events WHERE event_type = 'songji.assessment.AssessmentScheduled.v1'
      GROUP BY data->>'class_id') a
WHERE a.class_id = c.class_id;

CREATE INDEX IF NOT EXISTS class_views_awaiting_assessment ON class_views (class_id)
    WHERE completed_on IS NOT NULL AND cardinality(eligible_worker_ids) > 0
      AND cardinality(assessment_ids) = 0;
