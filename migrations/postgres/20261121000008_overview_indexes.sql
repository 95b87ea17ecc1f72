-- The overview sorted by status pages by (status, id): without this index both
-- databases sorted every one of the merchant's links for each page.
CREATE INDEX links_merchant_status_id ON links (merchant_id, status, id);
