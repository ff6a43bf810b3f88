-- When the last resync started, in Unix milliseconds, or NULL before the
-- first. Every server instance on this database reads and writes this one
-- row, so the minimum interval between resyncs holds across instances. A
-- resync locks the row while it checks the interval and queues the rows.
CREATE TABLE resync_state (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    last_started_at BIGINT
);

INSERT INTO resync_state (id, last_started_at) VALUES (1, NULL);
