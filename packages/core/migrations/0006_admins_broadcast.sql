-- The shop run from the bot (TELEGRAM_OWNER_IDS and TELEGRAM_ADMIN_IDS): blocked buyers, invoices
-- checked with the gateway while they are open, the SNK answer a buyer starts with a button, and
-- broadcasts sent through a queue that survives a restart.

-- /blokir and /buka: a blocked buyer is told once, then ignored.
ALTER TABLE users ADD COLUMN blocked_at timestamptz;
ALTER TABLE users ADD COLUMN blocked_notice_at timestamptz;

-- Open invoices are asked about on a backoff (a webhook may be lost), not only at expiry.
ALTER TABLE payments ADD COLUMN checks integer NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN next_check_at timestamptz;
ALTER TABLE deposits ADD COLUMN checks integer NOT NULL DEFAULT 0;
ALTER TABLE deposits ADD COLUMN next_check_at timestamptz;
CREATE INDEX payments_next_check ON payments (next_check_at) WHERE status = 'pending';
CREATE INDEX deposits_next_check ON deposits (next_check_at) WHERE status = 'pending';

-- "✅ Penuhi SNK": the order line a buyer chose to answer; their next text or photo is the answer.
CREATE TABLE terms_sessions (
  user_id     bigint      PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  order_id    bigint      NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
  product_id  integer     NOT NULL REFERENCES products(id) ON DELETE CASCADE,
  started_at  timestamptz NOT NULL DEFAULT now()
);

-- /broadcast: a draft until its author confirms, then queued; each recipient's outcome is kept.
CREATE TABLE broadcasts (
  id             bigserial   PRIMARY KEY,
  author_id      bigint      NOT NULL,
  kind           text        NOT NULL CHECK (kind IN ('text', 'photo')),
  body           text        NOT NULL DEFAULT '',
  photo_file_id  text,
  status         text        NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'queued', 'done', 'cancelled')),
  created_at     timestamptz NOT NULL DEFAULT now(),
  queued_at      timestamptz,
  finished_at    timestamptz,
  reported_at    timestamptz
);

CREATE TABLE broadcast_recipients (
  broadcast_id  bigint      NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
  chat_id       bigint      NOT NULL,
  status        text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'blocked', 'failed')),
  attempts      integer     NOT NULL DEFAULT 0,
  next_at       timestamptz NOT NULL DEFAULT now(),
  error         text,
  PRIMARY KEY (broadcast_id, chat_id)
);
CREATE INDEX broadcast_recipients_due ON broadcast_recipients (next_at) WHERE status = 'pending';
