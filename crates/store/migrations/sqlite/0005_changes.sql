-- Requests for technical change (§11), their test records (§10.4) and the jobs that carry them to
-- hosts (§12, §13.4).
CREATE TABLE changes (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    patches TEXT NOT NULL,
    selector TEXT NOT NULL,
    emergency BIGINT NOT NULL,
    rollout TEXT NOT NULL,
    windows TEXT NOT NULL,
    reboot TEXT NOT NULL,
    notice TEXT NOT NULL,
    start_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    approved_by TEXT,
    security_approved_by TEXT,
    open_wave BIGINT NOT NULL DEFAULT 0,
    paused TEXT
);

CREATE TABLE change_tests (
    change_id TEXT NOT NULL REFERENCES changes(id),
    platform_class TEXT NOT NULL,
    image TEXT NOT NULL,
    tested_by TEXT NOT NULL,
    tested_at BIGINT NOT NULL,
    passed BIGINT NOT NULL,
    notes TEXT NOT NULL
);
CREATE INDEX change_tests_change ON change_tests(change_id);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    change_id TEXT NOT NULL REFERENCES changes(id),
    host_id TEXT NOT NULL REFERENCES hosts(id),
    ring TEXT NOT NULL,
    wave BIGINT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    not_before BIGINT NOT NULL,
    items TEXT NOT NULL DEFAULT '[]',
    exit_status BIGINT,
    output TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    dispatched_at BIGINT,
    finished_at BIGINT,
    verified_at BIGINT
);
CREATE INDEX jobs_host ON jobs(host_id, state);
CREATE INDEX jobs_change ON jobs(change_id, state);
