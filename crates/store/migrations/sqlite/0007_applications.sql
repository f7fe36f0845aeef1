-- Applications, their owners and the hosts they run on (a selector), and the problems owners
-- report against a change (§10.6): an open report holds the change on those hosts.
CREATE TABLE applications (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    selector TEXT NOT NULL
);

CREATE TABLE problem_reports (
    id TEXT PRIMARY KEY,
    change_id TEXT NOT NULL REFERENCES changes(id),
    application TEXT NOT NULL REFERENCES applications(name),
    reported_by TEXT NOT NULL,
    at BIGINT NOT NULL,
    description TEXT NOT NULL,
    resolved_by TEXT,
    resolved_at BIGINT
);
CREATE INDEX problem_reports_change ON problem_reports(change_id);
