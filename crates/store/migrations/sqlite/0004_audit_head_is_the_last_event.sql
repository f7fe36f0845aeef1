-- The chain's head is its last event (or, when everything has been purged, the anchor): appending
-- writes one row and nothing else. `audit_head` keeps the anchor.
ALTER TABLE audit_head DROP COLUMN sequence;
ALTER TABLE audit_head DROP COLUMN hash;

-- `INTEGER PRIMARY KEY` makes the sequence the row id: one B-tree for the table and its key, not
-- two (SQLite treats `BIGINT PRIMARY KEY` as a separate index).
CREATE TABLE audit_events_new (
    sequence INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    before_state TEXT NOT NULL,
    after_state TEXT NOT NULL,
    previous_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_events_new SELECT sequence, at, actor, action, subject, before_state, after_state, previous_hash, hash
    FROM audit_events ORDER BY sequence;
DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;
CREATE INDEX audit_events_at ON audit_events(at);
