-- Upstream MCP servers (Cloudflare-style registry). The record lives in
-- `doc` (JSON); credentials are sealed separately.
CREATE TABLE mcp_upstreams (
    tenant      TEXT NOT NULL,
    id          TEXT NOT NULL,
    doc         TEXT NOT NULL,
    credentials TEXT,
    PRIMARY KEY (tenant, id)
);

-- Portals: curated sets of upstreams behind one endpoint (a server row
-- with source 'portal' holds its keys).
CREATE TABLE portals (
    tenant    TEXT NOT NULL,
    id        TEXT NOT NULL,
    doc       TEXT NOT NULL,
    server_id TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
