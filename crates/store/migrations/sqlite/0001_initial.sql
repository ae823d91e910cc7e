-- Timestamps are Unix epoch milliseconds (INTEGER), identical in meaning on
-- every backend; ids are UUID strings.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE servers (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL DEFAULT 'default',
    name        TEXT NOT NULL,
    source_kind TEXT NOT NULL,
    source_ref  TEXT NOT NULL,
    disabled    INTEGER NOT NULL DEFAULT 0,
    expires_at  INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE server_keys (
    id           TEXT PRIMARY KEY,
    server_id    TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    hash         TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
);
CREATE INDEX server_keys_server ON server_keys(server_id);

-- Session ids are signed and self-describing; only terminated ones are
-- remembered, until they would have expired anyway.
CREATE TABLE ended_sessions (
    nonce      TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
