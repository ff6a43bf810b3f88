-- What ZEGO's callbacks told this server. Times are Unix milliseconds.

-- The last known ZIM state of each user, from the login and logout callback.
-- A logout newer than a pending registration keeps the outbox from sending it.
CREATE TABLE user_presence (
    user_id     TEXT    PRIMARY KEY,
    state       TEXT    NOT NULL CHECK (state IN ('online', 'logged_out', 'offline')),
    -- When the state changed, by ZEGO's clock; an older callback never overwrites a newer one.
    changed_at  INTEGER NOT NULL,
    os          TEXT,
    session_id  TEXT,
    recorded_at INTEGER NOT NULL
);

-- Call invitation events: created, cancelled, timed out.
CREATE TABLE call_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id     TEXT    NOT NULL,
    event       TEXT    NOT NULL CHECK (event IN ('call_create', 'call_cancel', 'call_timeout')),
    caller      TEXT,
    -- The called users, as a JSON array of strings.
    user_ids    TEXT    NOT NULL,
    reason      TEXT,
    occurred_at INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
);

CREATE INDEX call_events_call_id ON call_events (call_id);

-- Every accepted callback's timestamp and nonce, kept for the freshness
-- window, so that a callback sent again is rejected.
CREATE TABLE callback_nonces (
    timestamp   INTEGER NOT NULL,
    nonce       TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (timestamp, nonce)
);
