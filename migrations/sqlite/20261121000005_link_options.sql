-- The per-link options of CONTRACT section 11 (PlacetoPay, IXOPAY, paymennt).

-- Multi-use links: how many approved payments the link takes (NULL: unlimited) and
-- how many it has had. The count lives on the link row so that taking a place is
-- one conditional UPDATE, which keeps concurrent payments within the allowance.
ALTER TABLE links ADD COLUMN payments_allowed INTEGER DEFAULT 1;
ALTER TABLE links ADD COLUMN payments_approved INTEGER NOT NULL DEFAULT 0;
-- Where this link's notifications go instead of the merchant's URL.
ALTER TABLE links ADD COLUMN notification_url TEXT;
ALTER TABLE links ADD COLUMN customer_email TEXT;
ALTER TABLE links ADD COLUMN send_by_email INTEGER NOT NULL DEFAULT 0;
-- Lists and records as JSON text (the same in both backends): they are only ever
-- read and written whole, never searched.
ALTER TABLE links ADD COLUMN receiver_emails TEXT;
ALTER TABLE links ADD COLUMN taxes TEXT;
ALTER TABLE links ADD COLUMN allowed_payment_methods TEXT;
ALTER TABLE links ADD COLUMN additional TEXT;
