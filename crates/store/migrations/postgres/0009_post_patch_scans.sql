-- Post-patch audit scans (§13.1): when a host last sent its whole inventory, when the server asked
-- it for a fresh one, and when each change was released and its scan requested.
ALTER TABLE hosts ADD COLUMN inventory_at BIGINT;
ALTER TABLE hosts ADD COLUMN scan_requested_at BIGINT;
ALTER TABLE changes ADD COLUMN released_at BIGINT;
ALTER TABLE changes ADD COLUMN scan_requested_at BIGINT;
