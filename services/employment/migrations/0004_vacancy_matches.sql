-- Who fits each open vacancy, scored by the pure scorer (services/employment/domain/
-- matching.py) and kept in the transaction of every event that changes a score: a vacancy
-- posted or closed, a certificate issued or revoked, a worker's site or availability, a
-- placement and a follow-up saying the worker left (services/employment/matches.py).
-- GET /vacancies/{id}/matches reads a page of (vacancy_id, -score, worker_id) after the
-- cursor, GET /workers/{id}/vacancies a page of (worker_id, -score, vacancy_id): each page
-- reads its own rows on an index, never the whole slice of candidates.
CREATE TABLE IF NOT EXISTS vacancy_matches (
    vacancy_id  text    NOT NULL,
    worker_id   text    NOT NULL,
    score       integer NOT NULL,
    criteria    jsonb   NOT NULL,  -- [{name, points, max_points, why}], in the scorer's order
    PRIMARY KEY (vacancy_id, worker_id)
);
CREATE INDEX IF NOT EXISTS vacancy_matches_ranked
    ON vacancy_matches (vacancy_id, (-score), worker_id);
CREATE INDEX IF NOT EXISTS vacancy_matches_by_worker
    ON vacancy_matches (worker_id, (-score), vacancy_id);

-- A vacancy whose matches are still being computed, chunk by chunk in worker id order after
-- ``built_after`` (its slice of candidates was too large to score in the posting's
-- transaction, or the read model is being rebuilt); its matches answer 503 until it is done.
CREATE TABLE IF NOT EXISTS vacancy_matches_to_build (
    vacancy_id   text PRIMARY KEY,
    built_after  text  -- the last worker id scored; NULL: none yet
);

-- Building a vacancy's matches walks its occupation's live certificates in worker id order.
CREATE INDEX IF NOT EXISTS worker_certificates_by_occupation_worker
    ON worker_certificates (occupation_code, worker_id) WHERE NOT revoked;

-- A database that had vacancies before this read model builds theirs in the background.
INSERT INTO vacancy_matches_to_build (vacancy_id)
    SELECT vacancy_id FROM vacancies WHERE ended IS NULL AND hired < headcount
    ON CONFLICT (vacancy_id) DO NOTHING;
