-- Patches deployed by hand where automation cannot reach (§12.4), with the evidence, verified like
-- jobs: by a later inventory that no longer misses them (§13.4).
CREATE TABLE manual_deployments (
    id TEXT PRIMARY KEY,
    host_id TEXT NOT NULL REFERENCES hosts(id),
    patches TEXT NOT NULL,
    evidence TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    performed_at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    verified_at BIGINT
);
CREATE INDEX manual_deployments_host ON manual_deployments(host_id);
