-- Backoffice sign-in: server-side sessions (keys stored hashed, with the user they
-- belong to so that deactivating a user ends them), failed sign-ins for
-- throttling, and each user's time zone for dates typed into forms.

CREATE TABLE sessions (
    key_hash   TEXT   PRIMARY KEY,
    user_id    TEXT,
    state      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE login_failures (
    account TEXT   NOT NULL,
    address TEXT   NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX login_failures_account ON login_failures (account, at);
CREATE INDEX login_failures_address ON login_failures (address, at);

ALTER TABLE users ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';

-- The amount in ten-thousandths of the currency's unit (EUR 32.99 → 329900,
-- JPY 500 → 5000000), so amounts of different currencies sort and filter on one
-- scale in the overview.
ALTER TABLE links ADD COLUMN amount_scaled BIGINT NOT NULL DEFAULT 0;
CREATE INDEX links_merchant_due ON links (merchant_id, due_date, id);
CREATE INDEX links_merchant_amount ON links (merchant_id, amount_scaled, id);
