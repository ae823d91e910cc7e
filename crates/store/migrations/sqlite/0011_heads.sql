-- One change counter ("head") per table the gateway's in-memory index is
-- built from, bumped by every write to that table in the write's own
-- transaction. The revision (0006) says that something changed; the heads
-- say what, so a reload reads only the tables that moved (and, for
-- integrations, only the rows whose updated_at moved) instead of the whole
-- store: an admin write then costs the same with 10 or 10,000 integrations.
CREATE TABLE heads (
    name TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
);
INSERT INTO heads (name, n) VALUES ('integrations', 0);
INSERT INTO heads (name, n) VALUES ('integrated_accounts', 0);
INSERT INTO heads (name, n) VALUES ('mcp_upstreams', 0);
INSERT INTO heads (name, n) VALUES ('portals', 0);
INSERT INTO heads (name, n) VALUES ('servers', 0);
INSERT INTO heads (name, n) VALUES ('server_keys', 0);

CREATE TRIGGER head_integrations_insert AFTER INSERT ON integrations
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'integrations'; END;

CREATE TRIGGER head_integrations_update AFTER UPDATE ON integrations
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'integrations'; END;

CREATE TRIGGER head_integrations_delete AFTER DELETE ON integrations
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'integrations'; END;

CREATE TRIGGER head_integrated_accounts_insert AFTER INSERT ON integrated_accounts
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'integrated_accounts'; END;

CREATE TRIGGER head_integrated_accounts_update AFTER UPDATE ON integrated_accounts
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'integrated_accounts'; END;

CREATE TRIGGER head_integrated_accounts_delete AFTER DELETE ON integrated_accounts
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'integrated_accounts'; END;

CREATE TRIGGER head_mcp_upstreams_insert AFTER INSERT ON mcp_upstreams
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'mcp_upstreams'; END;

CREATE TRIGGER head_mcp_upstreams_update AFTER UPDATE ON mcp_upstreams
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'mcp_upstreams'; END;

CREATE TRIGGER head_mcp_upstreams_delete AFTER DELETE ON mcp_upstreams
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'mcp_upstreams'; END;

CREATE TRIGGER head_portals_insert AFTER INSERT ON portals
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'portals'; END;

CREATE TRIGGER head_portals_update AFTER UPDATE ON portals
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'portals'; END;

CREATE TRIGGER head_portals_delete AFTER DELETE ON portals
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'portals'; END;

CREATE TRIGGER head_servers_insert AFTER INSERT ON servers
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'servers'; END;

CREATE TRIGGER head_servers_update AFTER UPDATE ON servers
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'servers'; END;

CREATE TRIGGER head_servers_delete AFTER DELETE ON servers
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'servers'; END;

CREATE TRIGGER head_server_keys_insert AFTER INSERT ON server_keys
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'server_keys'; END;

CREATE TRIGGER head_server_keys_update AFTER UPDATE OF server_id, hash, expires_at, revoked_at ON server_keys
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'server_keys'; END;

CREATE TRIGGER head_server_keys_delete AFTER DELETE ON server_keys
BEGIN UPDATE heads SET n = n + 1 WHERE name = 'server_keys'; END;
