-- Live certificates counted by occupation and level: what GET /statistics/certificates
-- answers, a page at a time in primary-key order, without reading the certificates. Kept by
-- the projection of SkillLevelCertified (+1) and CertificationRevoked (-1, a voided pass
-- included) in the transaction that appends them; a group whose count falls to zero is
-- deleted, so every row is a group with live certificates.
CREATE TABLE IF NOT EXISTS certificate_counts (
    occupation_code  text    NOT NULL,
    level            integer NOT NULL,
    certificates     integer NOT NULL CHECK (certificates >= 0),
    PRIMARY KEY (occupation_code, level)
);

-- An existing store gets its counts from the certificates it already holds.
INSERT INTO certificate_counts (occupation_code, level, certificates)
SELECT occupation_code, level, count(*) FROM certificates WHERE revoked_on IS NULL
GROUP BY 1, 2
ON CONFLICT DO NOTHING;

-- An assessment's results are paged by candidate (assessment_id, worker_id), and a page's
-- certificates are found by the same pair.
CREATE INDEX IF NOT EXISTS results_by_assessment_and_worker ON results (assessment_id, worker_id);
DROP INDEX IF EXISTS results_by_assessment;
CREATE INDEX IF NOT EXISTS certificates_by_assessment_and_worker
    ON certificates (assessment_id, worker_id);
