-- When the last resync started, in Unix milliseconds, or NULL before the
-- first. Every server instance on this database reads and writes this one
-- row, so the minimum interval between resyncs holds across instances. The
-- writer thread checks the interval and queues the rows in one transaction.
CREATE TABLE resync_state (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    last_started_at INTEGER
);

INSERT INTO resync_state (id, last_started_at) VALUES (1, NULL);
