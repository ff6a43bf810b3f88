-- One row per device token. A token belongs to one user at a time.
-- Times are Unix milliseconds.
CREATE TABLE registrations (
    id              BIGSERIAL PRIMARY KEY,
    token           TEXT    NOT NULL UNIQUE,
    -- First 12 hex digits of the token's SHA-256, the only form that is logged.
    token_hash      TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    provider        TEXT    NOT NULL CHECK (provider IN ('fcm', 'apns')),
    platform        TEXT    NOT NULL CHECK (platform IN ('android', 'ios')),
    device_id       TEXT,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'registered', 'failed', 'removed')),
    -- Bumped by every registration request, unregistration and resync, so a
    -- worker that finishes an older version of the row cannot overwrite a newer one.
    generation      BIGINT  NOT NULL DEFAULT 1,
    -- ZEGO requests sent since the last registration request.
    attempts        BIGINT  NOT NULL DEFAULT 0,
    -- When a pending row is due for its next attempt.
    next_attempt_at BIGINT,
    -- The instance working the row, and until when; nobody else touches it before then.
    lease_owner     TEXT,
    lease_until     BIGINT,
    last_code       BIGINT,
    last_message    TEXT,
    zego_request_id TEXT,
    -- The last registration request for this token; the device limit evicts the oldest.
    requested_at    BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    registered_at   BIGINT 
);

CREATE INDEX registrations_user_id ON registrations (user_id, state);
CREATE INDEX registrations_due ON registrations (state, next_attempt_at);
