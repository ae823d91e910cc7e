-- Who last wrote the URL fields of an integration or an account: 'operator'
-- (a super-admin token or the config directory) or 'tenant' (a tenant
-- admin). The egress policy lets only the operator's URLs reach loopback and
-- private networks by default. Rows written before this was recorded count
-- as a tenant's: the stricter policy for an unknown writer.
ALTER TABLE integrations ADD COLUMN url_provenance TEXT NOT NULL DEFAULT 'tenant';
ALTER TABLE integrated_accounts ADD COLUMN url_provenance TEXT NOT NULL DEFAULT 'tenant';
