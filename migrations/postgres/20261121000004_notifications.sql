-- Notification delivery (CONTRACT section 7), PostgreSQL flavour; kept column for
-- column with the SQLite one. Each outbox event carries its
-- delivery state; every attempt is kept. Events written before this migration
-- start pending, due at once: the outbox promised them and none was sent yet.

-- pending (due at next_attempt_at), delivered, failed.
ALTER TABLE events ADD COLUMN delivery_status TEXT NOT NULL DEFAULT 'pending';
-- Attempts since the event was (re)queued; the retry delays are counted from it.
ALTER TABLE events ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
-- The claim of one dispatcher on the event while it makes an attempt: whoever
-- holds an unexpired lease is the only one allowed to send and record it.
ALTER TABLE events ADD COLUMN lease_owner TEXT;
ALTER TABLE events ADD COLUMN lease_until BIGINT;
ALTER TABLE events ADD COLUMN delivered_at BIGINT;

-- The dispatcher's work queue: due pending events, oldest due first.
CREATE INDEX events_due ON events (next_attempt_at) WHERE delivery_status = 'pending';
-- The delivery log and the API list, per merchant and delivery status.
CREATE INDEX events_merchant_delivery ON events (merchant_id, delivery_status, created_at, id);

CREATE TABLE delivery_attempts (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     TEXT    NOT NULL REFERENCES events (id),
    attempted_at BIGINT  NOT NULL,
    duration_ms  BIGINT  NOT NULL,
    -- Where it was sent (NULL when no URL was configured).
    url          TEXT,
    -- The answer's status, or why there was none.
    status_code  BIGINT,
    error        TEXT
);
CREATE INDEX delivery_attempts_event ON delivery_attempts (event_id, seq);

-- Signing-secret rotation: for a day after a rotation the previous secret signs too.
ALTER TABLE merchants ADD COLUMN previous_webhook_secret TEXT;
ALTER TABLE merchants ADD COLUMN webhook_secret_rotated_at BIGINT;
