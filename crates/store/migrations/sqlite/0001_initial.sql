-- patchwarden's structured database (§7.6), SQLite dialect. Times are Unix seconds; ids are random
-- hex text made by the server, so both backends share one id scheme.

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE enrollment_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    uses_left BIGINT NOT NULL,
    department TEXT NOT NULL DEFAULT '',
    platform_class TEXT NOT NULL DEFAULT '',
    environment TEXT NOT NULL DEFAULT ''
);

CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    machine_id TEXT NOT NULL DEFAULT '',
    credential_hash TEXT NOT NULL UNIQUE,
    revoked BIGINT NOT NULL DEFAULT 0,
    enrolled_at BIGINT NOT NULL,
    enrollment_token TEXT REFERENCES enrollment_tokens(id),
    department TEXT NOT NULL DEFAULT '',
    platform_class TEXT NOT NULL DEFAULT '',
    environment TEXT NOT NULL DEFAULT '',
    os TEXT NOT NULL DEFAULT '',
    facts TEXT NOT NULL DEFAULT '{}',
    last_seen BIGINT,
    inventory_hash TEXT NOT NULL DEFAULT '',
    inventory_format TEXT NOT NULL DEFAULT '',
    last_sequence BIGINT NOT NULL DEFAULT 0,
    dropped_reports BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE host_addresses (
    host_id TEXT NOT NULL REFERENCES hosts(id),
    interface TEXT NOT NULL,
    ip TEXT NOT NULL,
    mac TEXT NOT NULL DEFAULT ''
);
CREATE INDEX host_addresses_host ON host_addresses(host_id);

-- Each distinct package record once; hosts point at it (most hosts share versions).
CREATE TABLE software (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    arch TEXT,
    source TEXT,
    source_version TEXT,
    module TEXT
);

-- WITHOUT ROWID: the primary key is the table, so each row is written to one B-tree, not two.
CREATE TABLE host_software (
    host_id TEXT NOT NULL REFERENCES hosts(id),
    software_id BIGINT NOT NULL REFERENCES software(id),
    PRIMARY KEY (host_id, software_id)
) WITHOUT ROWID;

-- §7.5.3: what changed on each host, and when.
CREATE TABLE software_history (
    host_id TEXT NOT NULL REFERENCES hosts(id),
    software_id BIGINT NOT NULL REFERENCES software(id),
    change TEXT NOT NULL,
    at BIGINT NOT NULL,
    sequence BIGINT NOT NULL
);
CREATE INDEX software_history_host ON software_history(host_id, at);

-- Every report stored exactly once: the key is (host, sequence).
CREATE TABLE reports (
    host_id TEXT NOT NULL REFERENCES hosts(id),
    sequence BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    had_inventory BIGINT NOT NULL,
    PRIMARY KEY (host_id, sequence)
) WITHOUT ROWID;

CREATE TABLE findings (
    host_id TEXT NOT NULL REFERENCES hosts(id),
    package TEXT NOT NULL,
    source TEXT NOT NULL,
    installed TEXT NOT NULL,
    fixed TEXT,
    advisory TEXT NOT NULL,
    cves TEXT NOT NULL,
    severity TEXT,
    kev BIGINT NOT NULL,
    epss DOUBLE PRECISION
);
CREATE INDEX findings_host ON findings(host_id);
CREATE INDEX findings_advisory ON findings(advisory, package);

-- Advisory sources as imported (OSV files and archives, Debian indexes, KEV, EPSS): the index is
-- rebuilt from these at start and after each import.
CREATE TABLE feed_sources (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    content BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    url TEXT,
    etag TEXT,
    last_modified TEXT,
    records BIGINT NOT NULL DEFAULT 0,
    advisories BIGINT NOT NULL DEFAULT 0,
    rejected BIGINT NOT NULL DEFAULT 0,
    last_error TEXT
);
