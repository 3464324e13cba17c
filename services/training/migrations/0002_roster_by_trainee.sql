-- A check-in asks whether one trainee is on one class's roster.
CREATE INDEX IF NOT EXISTS roster_by_class_and_worker ON roster (class_id, worker_id);
