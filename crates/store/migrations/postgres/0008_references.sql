-- The store enforces what objects refer to (the same rules as SQLite's
-- 0008_references.sql, as real constraints):
--   * a portal's backing server exists while the portal does, and belongs
--     to one portal only;
--   * every upstream a portal lists exists (portal_upstreams);
--   * a server over an integrated account names an account that exists
--     (account_id, set whenever source_kind = 'account');
--   * the MCP settings server of an integration names an integration that
--     exists, and goes with it.
-- Rows that earlier versions could leave behind are repaired first.

INSERT INTO servers (id, tenant, name, source_kind, source_ref, created_at, updated_at)
SELECT p.server_id, p.tenant, COALESCE(p.doc::json ->> 'name', p.id), 'portal', p.id,
       (extract(epoch FROM now()) * 1000)::bigint, (extract(epoch FROM now()) * 1000)::bigint
FROM portals p
WHERE NOT EXISTS (SELECT 1 FROM servers s WHERE s.id = p.server_id);

DELETE FROM servers
WHERE source_kind = 'portal'
  AND NOT EXISTS (SELECT 1 FROM portals p WHERE p.server_id = servers.id);

ALTER TABLE portals ALTER COLUMN server_id TYPE TEXT COLLATE "C";
ALTER TABLE portals ADD CONSTRAINT portals_server_id_key UNIQUE (server_id);
ALTER TABLE portals ADD CONSTRAINT portals_server_id_fkey
    FOREIGN KEY (server_id) REFERENCES servers(id);

CREATE TABLE portal_upstreams (
    tenant      TEXT COLLATE "C" NOT NULL,
    portal_id   TEXT COLLATE "C" NOT NULL,
    upstream_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, portal_id, upstream_id),
    FOREIGN KEY (tenant, portal_id) REFERENCES portals(tenant, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant, upstream_id) REFERENCES mcp_upstreams(tenant, id)
);
CREATE INDEX portal_upstreams_upstream ON portal_upstreams(tenant, upstream_id);
INSERT INTO portal_upstreams (tenant, portal_id, upstream_id)
SELECT DISTINCT p.tenant, p.id, m ->> 'server_id'
FROM portals p CROSS JOIN LATERAL json_array_elements(p.doc::json -> 'servers') m
WHERE EXISTS (
    SELECT 1 FROM mcp_upstreams u
    WHERE u.tenant = p.tenant AND u.id = m ->> 'server_id'
);

ALTER TABLE servers ADD COLUMN account_id TEXT COLLATE "C" REFERENCES integrated_accounts(id);
UPDATE servers SET account_id = source_ref
WHERE source_kind = 'account'
  AND EXISTS (SELECT 1 FROM integrated_accounts a WHERE a.id = servers.source_ref);
CREATE INDEX servers_account ON servers(account_id);

UPDATE servers SET integration_id = NULL
WHERE integration_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM integrations i WHERE i.id = servers.integration_id);
ALTER TABLE servers ALTER COLUMN integration_id TYPE TEXT COLLATE "C";
ALTER TABLE servers ADD CONSTRAINT servers_integration_id_fkey
    FOREIGN KEY (integration_id) REFERENCES integrations(id) ON DELETE CASCADE;
