-- One counter bumped by every write that the gateway's in-memory index
-- depends on, so replicas sharing this database notice a change with one
-- cheap read (a key revoked through one replica is refused by the others
-- within the poll interval) instead of re-reading every table. Writes that
-- do not change what is served (a key's last-use time, pruning expired
-- ended sessions) leave it alone.
CREATE TABLE revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO revision (id, n) VALUES (1, 0);

CREATE TRIGGER revision_servers_insert AFTER INSERT ON servers
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_servers_update AFTER UPDATE ON servers
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_servers_delete AFTER DELETE ON servers
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_server_keys_insert AFTER INSERT ON server_keys
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_server_keys_update AFTER UPDATE OF server_id, hash, expires_at, revoked_at ON server_keys
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_server_keys_delete AFTER DELETE ON server_keys
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_ended_sessions_insert AFTER INSERT ON ended_sessions
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_integrations_insert AFTER INSERT ON integrations
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_integrations_update AFTER UPDATE ON integrations
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_integrations_delete AFTER DELETE ON integrations
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_integrated_accounts_insert AFTER INSERT ON integrated_accounts
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_integrated_accounts_update AFTER UPDATE ON integrated_accounts
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_integrated_accounts_delete AFTER DELETE ON integrated_accounts
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_admin_tokens_insert AFTER INSERT ON admin_tokens
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_admin_tokens_update AFTER UPDATE ON admin_tokens
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_admin_tokens_delete AFTER DELETE ON admin_tokens
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_mcp_upstreams_insert AFTER INSERT ON mcp_upstreams
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_mcp_upstreams_update AFTER UPDATE ON mcp_upstreams
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_mcp_upstreams_delete AFTER DELETE ON mcp_upstreams
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_portals_insert AFTER INSERT ON portals
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_portals_update AFTER UPDATE ON portals
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_portals_delete AFTER DELETE ON portals
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;
