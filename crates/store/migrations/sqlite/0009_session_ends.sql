-- Ending a session is one small write, not a change to what is served:
-- it no longer bumps the revision (which made this and every other
-- process reload everything). Instead it takes the next number from its
-- own counter, so other processes read just the sessions ended since the
-- number they saw last.
DROP TRIGGER revision_ended_sessions_insert;

CREATE TABLE session_ends (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO session_ends (id, n) VALUES (1, 0);

ALTER TABLE ended_sessions ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX ended_sessions_seq ON ended_sessions(seq);
