-- The store enforces what objects refer to, instead of trusting each
-- handler's check-then-write:
--   * a portal's backing server exists while the portal does (a server
--     holding a portal's keys cannot be deleted on its own), and belongs to
--     one portal only;
--   * every upstream a portal lists exists (portal_upstreams, kept in step
--     with the portal's document in the same transaction);
--   * a server over an integrated account names an account that exists
--     (account_id, set whenever source_kind = 'account');
--   * the MCP settings server of an integration names an integration that
--     exists, and goes with it (SQLite cannot add a foreign key to an
--     existing column, so triggers do what PostgreSQL's constraint does).
-- Rows that earlier versions could leave behind are repaired first.

-- A portal whose backing server was deleted gets one back (without keys:
-- mint one with POST /server/{id}/keys).
INSERT INTO servers (id, tenant, name, source_kind, source_ref, created_at, updated_at)
SELECT p.server_id, p.tenant, COALESCE(json_extract(p.doc, '$.name'), p.id), 'portal', p.id,
       CAST(strftime('%s', 'now') AS INTEGER) * 1000, CAST(strftime('%s', 'now') AS INTEGER) * 1000
FROM portals p
WHERE NOT EXISTS (SELECT 1 FROM servers s WHERE s.id = p.server_id);

-- Backing servers no portal points at (left by a failed portal create)
-- serve nothing but hold live keys: they go, with their keys.
DELETE FROM servers
WHERE source_kind = 'portal'
  AND NOT EXISTS (SELECT 1 FROM portals p WHERE p.server_id = servers.id);

CREATE TABLE portals_new (
    tenant    TEXT NOT NULL,
    id        TEXT NOT NULL,
    doc       TEXT NOT NULL,
    server_id TEXT NOT NULL UNIQUE REFERENCES servers(id),
    PRIMARY KEY (tenant, id)
);
INSERT INTO portals_new (tenant, id, doc, server_id)
SELECT tenant, id, doc, server_id FROM portals;
DROP TABLE portals;
ALTER TABLE portals_new RENAME TO portals;

CREATE TRIGGER revision_portals_insert AFTER INSERT ON portals
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_portals_update AFTER UPDATE ON portals
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER revision_portals_delete AFTER DELETE ON portals
BEGIN UPDATE revision SET n = n + 1 WHERE id = 1; END;

-- The upstreams each portal lists; an upstream in use cannot be deleted.
CREATE TABLE portal_upstreams (
    tenant      TEXT NOT NULL,
    portal_id   TEXT NOT NULL,
    upstream_id TEXT NOT NULL,
    PRIMARY KEY (tenant, portal_id, upstream_id),
    FOREIGN KEY (tenant, portal_id) REFERENCES portals(tenant, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant, upstream_id) REFERENCES mcp_upstreams(tenant, id)
);
CREATE INDEX portal_upstreams_upstream ON portal_upstreams(tenant, upstream_id);
-- Members that no longer exist are left out (the portal already serves
-- nothing from them); the next PUT of the portal refuses them.
INSERT OR IGNORE INTO portal_upstreams (tenant, portal_id, upstream_id)
SELECT p.tenant, p.id, json_extract(m.value, '$.server_id')
FROM portals p, json_each(p.doc, '$.servers') m
WHERE EXISTS (
    SELECT 1 FROM mcp_upstreams u
    WHERE u.tenant = p.tenant AND u.id = json_extract(m.value, '$.server_id')
);

ALTER TABLE servers ADD COLUMN account_id TEXT REFERENCES integrated_accounts(id);
UPDATE servers SET account_id = source_ref
WHERE source_kind = 'account'
  AND EXISTS (SELECT 1 FROM integrated_accounts a WHERE a.id = servers.source_ref);
CREATE INDEX servers_account ON servers(account_id);

-- Settings of an integration that is gone become an ordinary server.
UPDATE servers SET integration_id = NULL
WHERE integration_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM integrations i WHERE i.id = servers.integration_id);

CREATE TRIGGER servers_integration_insert BEFORE INSERT ON servers
WHEN NEW.integration_id IS NOT NULL
 AND NOT EXISTS (SELECT 1 FROM integrations WHERE id = NEW.integration_id)
BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: servers.integration_id'); END;

CREATE TRIGGER servers_integration_update BEFORE UPDATE OF integration_id ON servers
WHEN NEW.integration_id IS NOT NULL
 AND NOT EXISTS (SELECT 1 FROM integrations WHERE id = NEW.integration_id)
BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: servers.integration_id'); END;

CREATE TRIGGER integrations_settings_cascade AFTER DELETE ON integrations
BEGIN DELETE FROM servers WHERE integration_id = OLD.id; END;
