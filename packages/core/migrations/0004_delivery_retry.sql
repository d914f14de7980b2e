-- A paid buyer always gets the goods: each paid order's delivery is retried on its own backoff
-- (a buyer who blocked the bot waits alone, nobody queues behind them) up to
-- DELIVERY_RETRY_LIMIT attempts; then the owners are told. /pesanan shows the goods meanwhile.
ALTER TABLE orders
  ADD COLUMN delivery_attempts    integer     NOT NULL DEFAULT 0,
  ADD COLUMN next_delivery_at     timestamptz,
  ADD COLUMN delivery_error       text,
  ADD COLUMN delivery_given_up_at timestamptz;

CREATE INDEX orders_undelivered_idx ON orders ((coalesce(next_delivery_at, paid_at)))
  WHERE status = 'paid' AND delivery_given_up_at IS NULL;
