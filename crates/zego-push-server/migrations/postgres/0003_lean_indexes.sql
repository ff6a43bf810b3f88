-- Indexes that a registration's state change does not touch. A user has few
-- rows, so the user index needs no state column; and only pending rows are
-- ever due, so the outbox index holds those alone. Marking a row registered
-- then leaves the user index alone and removes one entry from the outbox
-- index, where it used to move an entry in both.
DROP INDEX registrations_user_id;
DROP INDEX registrations_due;
CREATE INDEX registrations_user_id ON registrations (user_id);
CREATE INDEX registrations_due ON registrations (next_attempt_at) WHERE state = 'pending';
