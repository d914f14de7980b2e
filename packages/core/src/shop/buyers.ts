import type { Sql } from '../db/connection.js';
import { n } from './sql-helpers.js';

// Buyers: created on first contact.

export interface ShopUser {
  id: string;
  telegramId: number;
  balance: number;
  /** Blocked by the shop's staff (/blokir): told once, then ignored. */
  blocked: boolean;
}

export interface TelegramFrom {
  id: number;
  username?: string | undefined;
  first_name?: string | undefined;
}

type Row = { id: string; telegram_id: string; balance: string; blocked_at: Date | null };
const shopUser = (r: Row): ShopUser => ({ id: String(r.id), telegramId: n(r.telegram_id), balance: n(r.balance), blocked: r.blocked_at !== null });

/** Creates the buyer on first contact; refreshes the name only when it changed. */
export async function upsertUser(sql: Sql, from: TelegramFrom): Promise<ShopUser> {
  const username = from.username ?? null;
  const firstName = from.first_name ?? null;
  const [row] = await sql<Row[]>`
    WITH existing AS (
      SELECT id, telegram_id, balance, blocked_at, username, first_name FROM users WHERE telegram_id = ${from.id}
    ), updated AS (
      UPDATE users SET username = ${username}, first_name = ${firstName}, updated_at = now()
       WHERE telegram_id = ${from.id}
         AND (username IS DISTINCT FROM ${username} OR first_name IS DISTINCT FROM ${firstName})
      RETURNING id, telegram_id, balance, blocked_at
    ), inserted AS (
      INSERT INTO users (telegram_id, username, first_name)
      SELECT ${from.id}, ${username}, ${firstName} WHERE NOT EXISTS (SELECT 1 FROM existing)
      ON CONFLICT (telegram_id) DO NOTHING
      RETURNING id, telegram_id, balance, blocked_at
    )
    SELECT id, telegram_id, balance, blocked_at FROM updated
    UNION ALL SELECT id, telegram_id, balance, blocked_at FROM inserted
    UNION ALL SELECT id, telegram_id, balance, blocked_at FROM existing WHERE NOT EXISTS (SELECT 1 FROM updated)
    LIMIT 1`;
  if (row) return shopUser(row);
  // Lost an insert race with the same buyer's other update: the row exists now.
  const [again] = await sql<Row[]>`
    SELECT id, telegram_id, balance, blocked_at FROM users WHERE telegram_id = ${from.id}`;
  return shopUser(again!);
}

/** /blokir: the buyer is blocked (and told once, on their next message). */
export async function blockBuyer(sql: Sql, telegramId: number, by: number): Promise<'blocked' | 'already' | 'unknown'> {
  const [u] = await sql<{ blocked_at: Date | null }[]>`SELECT blocked_at FROM users WHERE telegram_id = ${telegramId}`;
  if (!u) return 'unknown';
  if (u.blocked_at) return 'already';
  await sql.begin(async (tx) => {
    await tx`UPDATE users SET blocked_at = now(), blocked_notice_at = NULL, updated_at = now() WHERE telegram_id = ${telegramId}`;
    await tx`INSERT INTO audit_log (actor, action, details) VALUES (${`staff:${by}`}, 'buyer_blocked', ${tx.json({ telegram_id: telegramId })})`;
  });
  return 'blocked';
}

/** /buka: the buyer is served again. */
export async function unblockBuyer(sql: Sql, telegramId: number, by: number): Promise<'unblocked' | 'not_blocked' | 'unknown'> {
  const [u] = await sql<{ blocked_at: Date | null }[]>`SELECT blocked_at FROM users WHERE telegram_id = ${telegramId}`;
  if (!u) return 'unknown';
  if (!u.blocked_at) return 'not_blocked';
  await sql.begin(async (tx) => {
    await tx`UPDATE users SET blocked_at = NULL, blocked_notice_at = NULL, updated_at = now() WHERE telegram_id = ${telegramId}`;
    await tx`INSERT INTO audit_log (actor, action, details) VALUES (${`staff:${by}`}, 'buyer_unblocked', ${tx.json({ telegram_id: telegramId })})`;
  });
  return 'unblocked';
}

/** True exactly once per block: the blocked buyer's one polite message. */
export async function claimBlockedNotice(sql: Sql, userId: string): Promise<boolean> {
  const rows = await sql`
    UPDATE users SET blocked_notice_at = now() WHERE id = ${userId} AND blocked_at IS NOT NULL AND blocked_notice_at IS NULL RETURNING id`;
  return rows.length === 1;
}
