-- Each host's package and finding counts, kept with the host as they change, so that listing a
-- fleet of 10,000 hosts does not count 20 million package links.
ALTER TABLE hosts ADD COLUMN package_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hosts ADD COLUMN finding_count BIGINT NOT NULL DEFAULT 0;
UPDATE hosts SET package_count = (SELECT COUNT(*) FROM host_software s WHERE s.host_id = hosts.id),
                 finding_count = (SELECT COUNT(*) FROM findings f WHERE f.host_id = hosts.id);
