-- Ending a session is one small write, not a change to what is served:
-- it no longer bumps the revision (which made every replica reload
-- everything). It takes the next number from its own counter (the row
-- lock orders the numbers as the commits), and still wakes the replicas'
-- LISTEN, which then read just the sessions ended since the number they
-- saw last.
DROP TRIGGER ended_sessions_changed ON ended_sessions;

CREATE TABLE session_ends (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO session_ends (id, n) VALUES (1, 0);

ALTER TABLE ended_sessions ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX ended_sessions_seq ON ended_sessions(seq);

CREATE FUNCTION mcpgate_session_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mcpgate_changes', 'session');
    RETURN NULL;
END
$$;

CREATE TRIGGER ended_sessions_notify AFTER INSERT ON ended_sessions
    FOR EACH ROW EXECUTE FUNCTION mcpgate_session_ended();
