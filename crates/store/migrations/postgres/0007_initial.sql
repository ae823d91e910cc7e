-- The PostgreSQL schema: the same tables, columns and meanings as the SQLite
-- migrations 0001-0007 arrive at, in one step. Timestamps are Unix epoch
-- milliseconds (BIGINT), JSON documents are TEXT, ids are UUID strings
-- compared bytewise (COLLATE "C") so that id-ordered pages match SQLite's.
-- Flags are SMALLINT 0/1, as SQLite stores them, so one code path reads both.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE servers (
    id             TEXT COLLATE "C" PRIMARY KEY,
    tenant         TEXT NOT NULL DEFAULT 'default',
    name           TEXT NOT NULL,
    source_kind    TEXT NOT NULL,
    source_ref     TEXT NOT NULL,
    disabled       SMALLINT NOT NULL DEFAULT 0,
    expires_at     BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    scope          TEXT NOT NULL DEFAULT '{}',
    exposed_tools  TEXT,
    created_by     TEXT,
    modified_by    TEXT,
    description    TEXT,
    limits         TEXT,
    integration_id TEXT,
    sandbox        TEXT
);
CREATE UNIQUE INDEX servers_integration_mcp ON servers(tenant, integration_id)
    WHERE integration_id IS NOT NULL;
CREATE INDEX servers_source ON servers(source_kind, source_ref);

CREATE TABLE server_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    server_id    TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    hash         TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX server_keys_server ON server_keys(server_id);

CREATE TABLE ended_sessions (
    nonce      TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE TABLE integrations (
    id         TEXT COLLATE "C" PRIMARY KEY,
    tenant     TEXT NOT NULL DEFAULT 'default',
    name       TEXT NOT NULL,
    origin     TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant, name)
);

CREATE TABLE integrated_accounts (
    id               TEXT COLLATE "C" PRIMARY KEY,
    tenant           TEXT NOT NULL DEFAULT 'default',
    integration_id   TEXT NOT NULL REFERENCES integrations(id),
    name             TEXT,
    base_url         TEXT,
    context          TEXT NOT NULL DEFAULT '{}',
    credentials      TEXT NOT NULL,
    credentials_kind TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX integrated_accounts_integration ON integrated_accounts(integration_id);

CREATE TABLE admin_tokens (
    id         TEXT COLLATE "C" PRIMARY KEY,
    tenant     TEXT,
    hash       TEXT NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE mcp_upstreams (
    tenant      TEXT COLLATE "C" NOT NULL,
    id          TEXT COLLATE "C" NOT NULL,
    doc         TEXT NOT NULL,
    credentials TEXT,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE portals (
    tenant    TEXT COLLATE "C" NOT NULL,
    id        TEXT COLLATE "C" NOT NULL,
    doc       TEXT NOT NULL,
    server_id TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE sandbox_objects (
    sandbox  TEXT NOT NULL,
    resource TEXT NOT NULL,
    id       TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    doc      TEXT,
    PRIMARY KEY (sandbox, resource, id)
);

CREATE TABLE fixtures (
    id         TEXT COLLATE "C" PRIMARY KEY,
    server_id  TEXT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    tool       TEXT NOT NULL,
    arguments  TEXT NOT NULL,
    result     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX fixtures_server_tool ON fixtures(server_id, tool);

-- Every write the gateway's in-memory index depends on bumps this counter
-- and sends a notification on `mcpgate_changes`, which every replica
-- LISTENs to (the counter is what a replica compares, so a notification
-- lost while a replica reconnects is caught by its next poll). Last-use
-- times and pruning of ended sessions leave both alone, as on SQLite.
CREATE TABLE revision (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO revision (id, n) VALUES (1, 0);

CREATE FUNCTION mcpgate_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE revision SET n = n + 1 WHERE id = 1;
    PERFORM pg_notify('mcpgate_changes', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER servers_changed AFTER INSERT OR UPDATE OR DELETE ON servers
    FOR EACH ROW EXECUTE FUNCTION mcpgate_changed();
CREATE TRIGGER server_keys_changed
    AFTER INSERT OR DELETE OR UPDATE OF server_id, hash, expires_at, revoked_at ON server_keys
    FOR EACH ROW EXECUTE FUNCTION mcpgate_changed();
CREATE TRIGGER ended_sessions_changed AFTER INSERT ON ended_sessions
    FOR EACH ROW EXECUTE FUNCTION mcpgate_changed();
CREATE TRIGGER integrations_changed AFTER INSERT OR UPDATE OR DELETE ON integrations
    FOR EACH ROW EXECUTE FUNCTION mcpgate_changed();
CREATE TRIGGER integrated_accounts_changed AFTER INSERT OR UPDATE OR DELETE ON integrated_accounts
    FOR EACH ROW EXECUTE FUNCTION mcpgate_changed();
CREATE TRIGGER admin_tokens_changed AFTER INSERT OR UPDATE OR DELETE ON admin_tokens
    FOR EACH ROW EXECUTE FUNCTION mcpgate_changed();
CREATE TRIGGER mcp_upstreams_changed AFTER INSERT OR UPDATE OR DELETE ON mcp_upstreams
    FOR EACH ROW EXECUTE FUNCTION mcpgate_changed();
CREATE TRIGGER portals_changed AFTER INSERT OR UPDATE OR DELETE ON portals
    FOR EACH ROW EXECUTE FUNCTION mcpgate_changed();
