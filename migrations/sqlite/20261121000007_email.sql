-- Link and receipt emails (CONTRACT section 11): an outbox like `events`. Each
-- row is one message to one address, rendered when it is queued (subject, text
-- and HTML in the link's language) and written in the transaction of what causes
-- it: a link created with sendByEmail, an approved payment, "Send by email".
CREATE TABLE emails (
    id              TEXT    PRIMARY KEY,
    merchant_id     INTEGER NOT NULL REFERENCES merchants (id),
    link_id         TEXT    NOT NULL REFERENCES links (id),
    -- link: the payment link; receipt: the receipt of one approved payment.
    kind            TEXT    NOT NULL CHECK (kind IN ('link', 'receipt')),
    -- The approved payment a receipt is for.
    payment_id      TEXT    REFERENCES payments (id),
    recipient       TEXT    NOT NULL,
    language        TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body_text       TEXT    NOT NULL,
    body_html       TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    delivery_status TEXT    NOT NULL DEFAULT 'pending'
        CHECK (delivery_status IN ('pending', 'sent', 'failed')),
    -- When it was last queued (created, or sent again by staff): the retries
    -- stop a day after this.
    queued_at       INTEGER NOT NULL,
    -- Attempts since it was (re)queued; the retry delays are counted from it.
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    -- The claim of one dispatcher while it makes an attempt (as on `events`).
    lease_owner     TEXT,
    lease_until     INTEGER,
    sent_at         INTEGER
);
-- The dispatcher's work queue: due pending emails, oldest due first.
CREATE INDEX emails_due ON emails (next_attempt_at) WHERE delivery_status = 'pending';
-- A link's emails on its detail page.
CREATE INDEX emails_link ON emails (link_id, created_at);

CREATE TABLE email_attempts (
    seq          INTEGER PRIMARY KEY,
    email_id     TEXT    NOT NULL REFERENCES emails (id),
    attempted_at INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    -- sent; temporary (retried); permanent (refused by the server, not retried).
    outcome      TEXT    NOT NULL CHECK (outcome IN ('sent', 'temporary', 'permanent')),
    -- The server's answer when it took the message.
    reply        TEXT,
    error        TEXT
);
CREATE INDEX email_attempts_email ON email_attempts (email_id, seq);
