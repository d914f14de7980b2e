-- What the running bot needs beyond the data model: fast balance look-ups per buyer, one SNK
-- submission per order and product, and an index for the SNK purge.

CREATE INDEX balance_ledger_user_idx ON balance_ledger (user_id, created_at);

-- A buyer answers the terms once per product bought in an order; a second answer is refused,
-- not stored twice.
CREATE UNIQUE INDEX snk_once_per_order_product ON product_term_submissions (order_id, product_id);
CREATE INDEX snk_user_idx ON product_term_submissions (user_id);

-- Orders waiting for an invoice (the gateway was slow or the bot stopped in between) are expired
-- by their own deadline.
CREATE INDEX orders_pending_no_invoice_idx ON orders (created_at) WHERE status = 'pending';
