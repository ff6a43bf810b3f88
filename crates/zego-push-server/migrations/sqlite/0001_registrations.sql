-- One row per device token. A token belongs to one user at a time.
CREATE TABLE registrations (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    token           TEXT    NOT NULL UNIQUE,
    -- First 12 hex digits of the token's SHA-256, the only form that is logged.
    token_hash      TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    provider        TEXT    NOT NULL CHECK (provider IN ('fcm', 'apns')),
    platform        TEXT    NOT NULL CHECK (platform IN ('android', 'ios')),
    device_id       TEXT,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'registered', 'failed', 'removed')),
    -- ZEGO requests sent for the current state, across in-request and later attempts.
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Unix milliseconds; set while the row is pending and due for a retry.
    next_attempt_at INTEGER,
    last_code       INTEGER,
    last_message    TEXT,
    zego_request_id TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    registered_at   INTEGER
);

CREATE INDEX registrations_user_id ON registrations (user_id);
CREATE INDEX registrations_due ON registrations (state, next_attempt_at);
