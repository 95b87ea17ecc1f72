-- Payment attempts through an acquirer (the shopper's page). A row never holds a
-- card number or CVC: only the brand and the last four digits.
-- status: PENDING (waiting for the acquirer), APPROVED (captured: it paid the
-- link), DECLINED, VOIDED (authorised after the link closed; the hold was
-- released), FAILED (the acquirer failed).

-- The acquirer's reference of the hold, for capture and void.
ALTER TABLE payments ADD COLUMN authorisation TEXT;
-- When the acquirer confirmed the capture of an APPROVED payment.
ALTER TABLE payments ADD COLUMN captured_at INTEGER;
ALTER TABLE payments ADD COLUMN updated_at INTEGER;

-- Counting a link's recent declined and pending attempts (card-testing defence).
CREATE INDEX payments_link_status ON payments (link_id, status, created_at);
