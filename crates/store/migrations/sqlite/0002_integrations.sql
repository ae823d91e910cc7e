CREATE TABLE integrations (
    id         TEXT PRIMARY KEY,
    tenant     TEXT NOT NULL DEFAULT 'default',
    name       TEXT NOT NULL,
    origin     TEXT NOT NULL,           -- 'config' (bundled file) or 'api'
    definition TEXT NOT NULL,           -- the validated definition, as JSON
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (tenant, name)
);

CREATE TABLE integrated_accounts (
    id               TEXT PRIMARY KEY,
    tenant           TEXT NOT NULL DEFAULT 'default',
    integration_id   TEXT NOT NULL REFERENCES integrations(id),
    name             TEXT,
    base_url         TEXT,              -- overrides the integration's
    context          TEXT NOT NULL DEFAULT '{}',
    credentials      TEXT NOT NULL,     -- AES-256-GCM sealed JSON, bound to the row id
    credentials_kind TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX integrated_accounts_integration ON integrated_accounts(integration_id);

ALTER TABLE servers ADD COLUMN scope TEXT NOT NULL DEFAULT '{}';
ALTER TABLE servers ADD COLUMN exposed_tools TEXT;
