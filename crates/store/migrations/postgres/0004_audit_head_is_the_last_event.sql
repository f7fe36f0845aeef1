-- The chain's head is its last event (or, when everything has been purged, the anchor): appending
-- writes one row and nothing else. `audit_head` keeps the anchor and is the lock PostgreSQL
-- appenders queue on.
ALTER TABLE audit_head DROP COLUMN sequence;
ALTER TABLE audit_head DROP COLUMN hash;
