-- The shop's data model. Money is in whole rupiah (bigint). Secrets delivered to buyers
-- (stock items) and SNK submissions are stored encrypted by the application (field encryption,
-- DATA_ENCRYPTION_KEY): the database never sees their plaintext.

CREATE TABLE users (
  id            bigserial PRIMARY KEY,
  telegram_id   bigint      NOT NULL UNIQUE,
  username      text,
  first_name    text,
  balance       bigint      NOT NULL DEFAULT 0 CHECK (balance >= 0),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
  id            serial      PRIMARY KEY,
  code          text        NOT NULL UNIQUE,
  name          text        NOT NULL,
  description   text        NOT NULL DEFAULT '',
  price         bigint      NOT NULL CHECK (price > 0),
  is_active     boolean     NOT NULL DEFAULT true,
  sort_order    integer     NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE product_terms (
  id                  serial      PRIMARY KEY,
  product_id          integer     NOT NULL UNIQUE REFERENCES products(id) ON DELETE CASCADE,
  content             text        NOT NULL,
  requires_submission boolean     NOT NULL DEFAULT true,
  created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
  id              bigserial   PRIMARY KEY,
  public_id       text        NOT NULL UNIQUE,
  user_id         bigint      NOT NULL REFERENCES users(id),
  status          text        NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'paid', 'delivered', 'expired', 'failed', 'cancelled')),
  total_amount    bigint      NOT NULL CHECK (total_amount > 0),
  payment_method  text        NOT NULL DEFAULT 'qris' CHECK (payment_method IN ('qris', 'balance')),
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz,
  paid_at         timestamptz,
  delivered_at    timestamptz
);
CREATE INDEX orders_user_idx ON orders (user_id, created_at DESC);
CREATE INDEX orders_pending_idx ON orders (expires_at) WHERE status = 'pending';

CREATE TABLE order_items (
  id          bigserial PRIMARY KEY,
  order_id    bigint    NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  product_id  integer   NOT NULL REFERENCES products(id),
  quantity    integer   NOT NULL CHECK (quantity > 0),
  unit_price  bigint    NOT NULL CHECK (unit_price > 0)
);
CREATE INDEX order_items_order_idx ON order_items (order_id);

CREATE TABLE product_stock_items (
  id            bigserial   PRIMARY KEY,
  product_id    integer     NOT NULL REFERENCES products(id),
  secret_enc    text        NOT NULL,
  status        text        NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'reserved', 'sold')),
  order_id      bigint      REFERENCES orders(id),
  reserved_at   timestamptz,
  sold_at       timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'available') = (order_id IS NULL))
);
CREATE INDEX stock_available_idx ON product_stock_items (product_id, id) WHERE status = 'available';
CREATE INDEX stock_order_idx ON product_stock_items (order_id);

-- Invoices for orders. gateway_order_id is what the gateway knows the invoice by.
CREATE TABLE payments (
  id                bigserial   PRIMARY KEY,
  order_id          bigint      NOT NULL UNIQUE REFERENCES orders(id),
  gateway           text        NOT NULL DEFAULT 'pakasir',
  gateway_order_id  text        NOT NULL UNIQUE,
  amount            bigint      NOT NULL CHECK (amount > 0),
  total_payment     bigint      NOT NULL CHECK (total_payment > 0),
  qris_string       text,
  status            text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'expired', 'failed')),
  expires_at        timestamptz NOT NULL,
  paid_at           timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_pending_idx ON payments (expires_at) WHERE status = 'pending';

-- Balance (saldo) top-ups: the same invoice mechanism.
CREATE TABLE deposits (
  id                bigserial   PRIMARY KEY,
  user_id           bigint      NOT NULL REFERENCES users(id),
  gateway           text        NOT NULL DEFAULT 'pakasir',
  gateway_order_id  text        NOT NULL UNIQUE,
  amount            bigint      NOT NULL CHECK (amount > 0),
  total_payment     bigint      NOT NULL CHECK (total_payment > 0),
  qris_string       text,
  status            text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'expired', 'failed')),
  expires_at        timestamptz NOT NULL,
  paid_at           timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deposits_pending_idx ON deposits (expires_at) WHERE status = 'pending';

-- Every balance change. A deposit or an order can move the balance at most once per reason.
CREATE TABLE balance_ledger (
  id          bigserial   PRIMARY KEY,
  user_id     bigint      NOT NULL REFERENCES users(id),
  delta       bigint      NOT NULL CHECK (delta <> 0),
  reason      text        NOT NULL CHECK (reason IN ('deposit', 'order', 'refund', 'adjustment')),
  deposit_id  bigint      REFERENCES deposits(id),
  order_id    bigint      REFERENCES orders(id),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX balance_ledger_deposit_once ON balance_ledger (deposit_id) WHERE reason = 'deposit';
CREATE UNIQUE INDEX balance_ledger_order_once ON balance_ledger (order_id, reason) WHERE order_id IS NOT NULL;

-- Chat messages that belong to an invoice, so expiry and payment can remove them.
CREATE TABLE invoice_messages (
  id          bigserial   PRIMARY KEY,
  payment_id  bigint      REFERENCES payments(id) ON DELETE CASCADE,
  deposit_id  bigint      REFERENCES deposits(id) ON DELETE CASCADE,
  chat_id     bigint      NOT NULL,
  message_id  bigint      NOT NULL,
  kind        text        NOT NULL DEFAULT 'invoice',
  created_at  timestamptz NOT NULL DEFAULT now(),
  removed_at  timestamptz,
  CHECK ((payment_id IS NULL) <> (deposit_id IS NULL))
);
CREATE INDEX invoice_messages_payment_idx ON invoice_messages (payment_id);
CREATE INDEX invoice_messages_deposit_idx ON invoice_messages (deposit_id);

CREATE TABLE product_term_submissions (
  id            bigserial   PRIMARY KEY,
  product_id    integer     NOT NULL REFERENCES products(id),
  order_id      bigint      NOT NULL REFERENCES orders(id),
  user_id       bigint      NOT NULL REFERENCES users(id),
  kind          text        NOT NULL CHECK (kind IN ('text', 'photo')),
  content_enc   text        NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX snk_created_idx ON product_term_submissions (created_at);

CREATE TABLE audit_log (
  id          bigserial   PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text        NOT NULL,
  action      text        NOT NULL,
  details     jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
