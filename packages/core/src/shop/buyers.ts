import type { Sql } from '../db/connection.js';
import { n } from './sql-helpers.js';

// Buyers: created on first contact.

export interface ShopUser {
  id: string;
  telegramId: number;
  balance: number;
}

export interface TelegramFrom {
  id: number;
  username?: string | undefined;
  first_name?: string | undefined;
}

/** Creates the buyer on first contact; refreshes the name only when it changed. */
export async function upsertUser(sql: Sql, from: TelegramFrom): Promise<ShopUser> {
  const username = from.username ?? null;
  const firstName = from.first_name ?? null;
  const [row] = await sql<{ id: string; telegram_id: string; balance: string }[]>`
    WITH existing AS (
      SELECT id, telegram_id, balance, username, first_name FROM users WHERE telegram_id = ${from.id}
    ), updated AS (
      UPDATE users SET username = ${username}, first_name = ${firstName}, updated_at = now()
       WHERE telegram_id = ${from.id}
         AND (username IS DISTINCT FROM ${username} OR first_name IS DISTINCT FROM ${firstName})
      RETURNING id, telegram_id, balance
    ), inserted AS (
      INSERT INTO users (telegram_id, username, first_name)
      SELECT ${from.id}, ${username}, ${firstName} WHERE NOT EXISTS (SELECT 1 FROM existing)
      ON CONFLICT (telegram_id) DO NOTHING
      RETURNING id, telegram_id, balance
    )
    SELECT id, telegram_id, balance FROM updated
    UNION ALL SELECT id, telegram_id, balance FROM inserted
    UNION ALL SELECT id, telegram_id, balance FROM existing WHERE NOT EXISTS (SELECT 1 FROM updated)
    LIMIT 1`;
  if (row) return { id: String(row.id), telegramId: n(row.telegram_id), balance: n(row.balance) };
  // Lost an insert race with the same buyer's other update: the row exists now.
  const [again] = await sql<{ id: string; telegram_id: string; balance: string }[]>`
    SELECT id, telegram_id, balance FROM users WHERE telegram_id = ${from.id}`;
  return { id: String(again!.id), telegramId: n(again!.telegram_id), balance: n(again!.balance) };
}
