-- Sandbox twins: objects the simulator created, per sandbox (key id).
-- doc NULL marks a deleted object (a later get answers 404).
CREATE TABLE sandbox_objects (
    sandbox  TEXT NOT NULL,
    resource TEXT NOT NULL,
    id       TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    doc      TEXT,
    PRIMARY KEY (sandbox, resource, id)
);

-- Fault injection and recording settings of a server's sandbox, JSON.
ALTER TABLE servers ADD COLUMN sandbox TEXT;

-- Real calls recorded as fixtures for the sandbox to replay.
CREATE TABLE fixtures (
    id         TEXT PRIMARY KEY,
    server_id  TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    tool       TEXT NOT NULL,
    arguments  TEXT NOT NULL,
    result     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX fixtures_server_tool ON fixtures(server_id, tool);
