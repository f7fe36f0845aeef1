-- The policy engine's records (§7.7, §9, §10.8, Appendix A). Everything here is kept, not
-- overwritten, so that compliance can be computed as of any past date.

-- When each host was missing each patch: opened by the report or advisory change that revealed it,
-- closed by the one that showed the fix. Open spans have no `closed_at`.
CREATE TABLE finding_spans (
    host_id TEXT NOT NULL REFERENCES hosts(id),
    advisory TEXT NOT NULL,
    package TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    closed_at BIGINT
);
CREATE INDEX finding_spans_host ON finding_spans(host_id, advisory, package);
CREATE INDEX finding_spans_opened ON finding_spans(opened_at);

-- §9: each patch's category per platform class. Revision 1 is the suggestion; each later revision
-- is Security confirming or overriding it. The row in force at a time is the last revision by then.
CREATE TABLE classifications (
    advisory TEXT NOT NULL,
    platform_class TEXT NOT NULL,
    revision BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    category TEXT NOT NULL,
    approved BIGINT NOT NULL,
    suggested TEXT NOT NULL,
    reasons TEXT NOT NULL,
    note TEXT NOT NULL,
    severity TEXT,
    fleet_share DOUBLE PRECISION NOT NULL,
    released_at BIGINT NOT NULL,
    PRIMARY KEY (advisory, platform_class, revision)
);

-- Which package names each platform class has had installed (§9.1.4 Not applicable).
CREATE TABLE class_packages (
    platform_class TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (platform_class, name)
);

-- §7.7 exceptions and §10.8 declines.
CREATE TABLE exceptions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    selector TEXT NOT NULL,
    patches TEXT NOT NULL,
    reason TEXT NOT NULL,
    workaround TEXT,
    target_at BIGINT NOT NULL,
    application_owner TEXT,
    requested_by TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT,
    revoked_at BIGINT
);

-- What a role must be told (§10.8.2: Security hears of every decline).
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    at BIGINT NOT NULL,
    subject TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX notifications_role ON notifications(role, at);

-- Directory groups of each host (§7.2.2), as set by administrators or directory sync.
CREATE TABLE host_groups (
    host_id TEXT NOT NULL REFERENCES hosts(id),
    group_name TEXT NOT NULL,
    PRIMARY KEY (host_id, group_name)
);

-- Appendix A forms as certified by Security, kept unchanged (§13.2).
CREATE TABLE compliance_reports (
    department TEXT NOT NULL,
    month TEXT NOT NULL,
    report TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    certified_by TEXT NOT NULL,
    name TEXT NOT NULL,
    job_title TEXT NOT NULL,
    signed_on TEXT NOT NULL,
    certified_at BIGINT NOT NULL,
    PRIMARY KEY (department, month)
);
