-- Admin tokens scoped to a tenant (NULL tenant = super-admin).
CREATE TABLE admin_tokens (
    id         TEXT PRIMARY KEY,
    tenant     TEXT,
    hash       TEXT NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

ALTER TABLE servers ADD COLUMN created_by TEXT;
ALTER TABLE servers ADD COLUMN modified_by TEXT;
ALTER TABLE servers ADD COLUMN description TEXT;
-- Per-server overrides of the per-key limits, JSON; NULL = the defaults.
ALTER TABLE servers ADD COLUMN limits TEXT;
-- Set on the one server per (tenant, integration) that the
-- per-integration MCP settings API manages.
ALTER TABLE servers ADD COLUMN integration_id TEXT;
CREATE UNIQUE INDEX servers_integration_mcp ON servers(tenant, integration_id)
    WHERE integration_id IS NOT NULL;
