-- The owner stocks the shop from the host (botctl catalog import, botctl stock add): products get
-- a category, and each stock item a keyed digest of its secret (HMAC under a key derived from
-- DATA_ENCRYPTION_KEY, prefixed with that key's id) so that the same account or voucher is never
-- stocked twice for a product, sold or not, without the database seeing the secret.
ALTER TABLE products ADD COLUMN category text NOT NULL DEFAULT '';

ALTER TABLE product_stock_items ADD COLUMN secret_digest text;
CREATE UNIQUE INDEX stock_secret_digest_once ON product_stock_items (product_id, secret_digest) WHERE secret_digest IS NOT NULL;
