-- The server's patch store (§14.4): uploaded package files, content-addressed by SHA-256 (the
-- bytes live in the data directory under that name), and the files a change deploys.
CREATE TABLE patch_files (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    package TEXT NOT NULL,
    version TEXT NOT NULL,
    size BIGINT NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL
);

ALTER TABLE changes ADD COLUMN artifacts TEXT NOT NULL DEFAULT '[]';
