-- The 6 November rule: every invoice and deposit message leaves the buyer's chat eventually.
-- A removal that failed for a passing reason (Telegram 5xx, a timeout) is tried again by the
-- expiry job with backoff, until it succeeds or Telegram says it never can.
ALTER TABLE invoice_messages
  ADD COLUMN replacement     text,
  ADD COLUMN attempts        integer     NOT NULL DEFAULT 0,
  ADD COLUMN next_attempt_at timestamptz,
  ADD COLUMN last_error      text,
  ADD COLUMN outcome         text CHECK (outcome IN ('deleted', 'edited', 'gone'));

CREATE INDEX invoice_messages_retry_idx ON invoice_messages (next_attempt_at)
  WHERE removed_at IS NULL AND next_attempt_at IS NOT NULL;
