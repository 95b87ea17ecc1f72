-- Core schema, SQLite flavour. Times are INTEGER milliseconds since the Unix epoch
-- (UTC) in both backends: they sort and compare the same everywhere, which keyset
-- pagination and the expiry sweep rely on. Money is INTEGER minor units.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE merchants (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT    NOT NULL,
    notification_uri TEXT,
    webhook_secret   TEXT    NOT NULL,
    created_at       INTEGER NOT NULL
);
-- Merchant ids look like the seed's (10450, …): start the sequence there.
INSERT INTO sqlite_sequence (name, seq) VALUES ('merchants', 10449);

CREATE TABLE products (
    id          INTEGER PRIMARY KEY,
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX products_merchant ON products (merchant_id);

CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    merchant_id   INTEGER NOT NULL REFERENCES merchants (id),
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'staff')),
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL
);
CREATE INDEX users_merchant ON users (merchant_id);

CREATE TABLE api_clients (
    id          TEXT    PRIMARY KEY,
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    name        TEXT    NOT NULL,
    secret_hash TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX api_clients_merchant ON api_clients (merchant_id);

CREATE TABLE access_tokens (
    token_hash  TEXT    PRIMARY KEY,
    client_id   TEXT    NOT NULL REFERENCES api_clients (id),
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    expires_at  INTEGER NOT NULL
);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);

CREATE TABLE links (
    seq                     INTEGER PRIMARY KEY,
    id                      TEXT    NOT NULL UNIQUE,
    merchant_id             INTEGER NOT NULL REFERENCES merchants (id),
    product_id              INTEGER NOT NULL REFERENCES products (id),
    url_code                TEXT    NOT NULL UNIQUE,
    status                  TEXT    NOT NULL,
    amount_minor            INTEGER NOT NULL,
    currency                TEXT    NOT NULL,
    country                 TEXT    NOT NULL,
    merchant_transaction_id TEXT    NOT NULL,
    description             TEXT,
    customer_id             TEXT    NOT NULL,
    due_date                INTEGER NOT NULL,
    language                TEXT    NOT NULL,
    merchant_params         TEXT,
    reference_id            TEXT,
    code                    TEXT,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    paid_at                 INTEGER,
    -- Substring search over the fields a user types (short queries scan it; longer
    -- ones go through links_search below).
    search_text TEXT GENERATED ALWAYS AS (lower(
        id || ' ' || merchant_transaction_id || ' ' || coalesce(description, '') || ' ' ||
        customer_id || ' ' || coalesce(reference_id, ''))) VIRTUAL
);
CREATE INDEX links_merchant_created ON links (merchant_id, created_at DESC, id DESC);
CREATE INDEX links_merchant_status_created ON links (merchant_id, status, created_at DESC, id DESC);
CREATE INDEX links_created_due ON links (due_date) WHERE status = 'CREATED';

-- Trigram index for substring search; external content so it stores no second copy.
CREATE VIRTUAL TABLE links_search USING fts5 (
    id, merchant_transaction_id, description, customer_id, reference_id,
    content = 'links', content_rowid = 'seq', tokenize = 'trigram'
);
CREATE TRIGGER links_search_insert AFTER INSERT ON links BEGIN
    INSERT INTO links_search (rowid, id, merchant_transaction_id, description, customer_id, reference_id)
    VALUES (new.seq, new.id, new.merchant_transaction_id, new.description, new.customer_id, new.reference_id);
END;
CREATE TRIGGER links_search_update AFTER UPDATE OF merchant_transaction_id, description, customer_id, reference_id ON links BEGIN
    INSERT INTO links_search (links_search, rowid, id, merchant_transaction_id, description, customer_id, reference_id)
    VALUES ('delete', old.seq, old.id, old.merchant_transaction_id, old.description, old.customer_id, old.reference_id);
    INSERT INTO links_search (rowid, id, merchant_transaction_id, description, customer_id, reference_id)
    VALUES (new.seq, new.id, new.merchant_transaction_id, new.description, new.customer_id, new.reference_id);
END;
CREATE TRIGGER links_search_delete AFTER DELETE ON links BEGIN
    INSERT INTO links_search (links_search, rowid, id, merchant_transaction_id, description, customer_id, reference_id)
    VALUES ('delete', old.seq, old.id, old.merchant_transaction_id, old.description, old.customer_id, old.reference_id);
END;

-- Payment attempts on a link (several per link: declines, and multi-use links).
CREATE TABLE payments (
    id           TEXT    PRIMARY KEY,
    link_id      TEXT    NOT NULL REFERENCES links (id),
    merchant_id  INTEGER NOT NULL REFERENCES merchants (id),
    status       TEXT    NOT NULL,
    amount_minor INTEGER NOT NULL,
    brand        TEXT,
    last4        TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX payments_link ON payments (link_id, created_at);

-- The notification outbox: one row per status change, written in the same
-- transaction as the change so that none is lost or invented.
CREATE TABLE events (
    id          TEXT    PRIMARY KEY,
    merchant_id INTEGER NOT NULL REFERENCES merchants (id),
    link_id     TEXT    NOT NULL REFERENCES links (id),
    status      TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX events_merchant_created ON events (merchant_id, created_at);
CREATE INDEX events_link ON events (link_id);

CREATE TABLE idempotency_keys (
    merchant_id  INTEGER NOT NULL REFERENCES merchants (id),
    key          TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    response     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
