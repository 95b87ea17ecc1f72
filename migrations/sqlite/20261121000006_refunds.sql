-- Refunds of approved payments (CONTRACT section 11).

-- What is refunded or being refunded of the payment: PENDING and SUCCEEDED refunds
-- together. A refund reserves its amount here with one conditional UPDATE before
-- the acquirer is asked, so concurrent refunds never add up to more than the
-- payment; a FAILED refund gives its amount back. The CHECK guards the same rule.
ALTER TABLE payments ADD COLUMN refunded_minor INTEGER NOT NULL DEFAULT 0
    CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor);

-- status: PENDING (reserved, the acquirer has not confirmed it: retried with the
-- same id by the reconciliation), SUCCEEDED, FAILED (refused; nothing refunded).
CREATE TABLE refunds (
    -- Our refund id, also the idempotency reference the acquirer receives.
    id           TEXT    PRIMARY KEY,
    payment_id   TEXT    NOT NULL REFERENCES payments (id),
    link_id      TEXT    NOT NULL REFERENCES links (id),
    merchant_id  INTEGER NOT NULL REFERENCES merchants (id),
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    reason       TEXT,
    status       TEXT    NOT NULL,
    -- The acquirer's id of the refund, once it confirmed it.
    acquirer_reference TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX refunds_payment ON refunds (payment_id, created_at);
CREATE INDEX refunds_link ON refunds (link_id);
-- The reconciliation's queue: refunds the acquirer has not confirmed.
CREATE INDEX refunds_pending ON refunds (created_at) WHERE status = 'PENDING';
