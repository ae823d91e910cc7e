-- One change counter ("head") per table the gateway's in-memory index is
-- built from, bumped by every write to that table in the write's own
-- transaction. The revision (0006) says that something changed; the heads
-- say what, so a reload reads only the tables that moved (and, for
-- integrations, only the rows whose updated_at moved) instead of the whole
-- store: an admin write then costs the same with 10 or 10,000 integrations.
CREATE TABLE heads (
    name TEXT PRIMARY KEY,
    n    BIGINT NOT NULL
);
INSERT INTO heads (name, n) VALUES ('integrations', 0);
INSERT INTO heads (name, n) VALUES ('integrated_accounts', 0);
INSERT INTO heads (name, n) VALUES ('mcp_upstreams', 0);
INSERT INTO heads (name, n) VALUES ('portals', 0);
INSERT INTO heads (name, n) VALUES ('servers', 0);
INSERT INTO heads (name, n) VALUES ('server_keys', 0);

-- Once per statement: a statement that writes many rows moves the head once.
CREATE FUNCTION mcpgate_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE heads SET n = n + 1 WHERE name = TG_TABLE_NAME;
    RETURN NULL;
END
$$;

CREATE TRIGGER integrations_head AFTER INSERT OR UPDATE OR DELETE ON integrations
    FOR EACH STATEMENT EXECUTE FUNCTION mcpgate_head();

CREATE TRIGGER integrated_accounts_head AFTER INSERT OR UPDATE OR DELETE ON integrated_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION mcpgate_head();

CREATE TRIGGER mcp_upstreams_head AFTER INSERT OR UPDATE OR DELETE ON mcp_upstreams
    FOR EACH STATEMENT EXECUTE FUNCTION mcpgate_head();

CREATE TRIGGER portals_head AFTER INSERT OR UPDATE OR DELETE ON portals
    FOR EACH STATEMENT EXECUTE FUNCTION mcpgate_head();

CREATE TRIGGER servers_head AFTER INSERT OR UPDATE OR DELETE ON servers
    FOR EACH STATEMENT EXECUTE FUNCTION mcpgate_head();

CREATE TRIGGER server_keys_head AFTER INSERT OR DELETE OR UPDATE OF server_id, hash, expires_at, revoked_at ON server_keys
    FOR EACH STATEMENT EXECUTE FUNCTION mcpgate_head();
