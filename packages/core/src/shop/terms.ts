import type { FieldCipher } from '../crypto/field-encryption.js';
import type { Sql } from '../db/connection.js';
import { SNK_CONTENT_CONTEXT } from './field-contexts.js';

// SNK (terms) submissions.

export interface AwaitingTerms {
  orderId: string;
  publicId: string;
  productId: number;
  productName: string;
  content: string;
}

/** The oldest order line still waiting for this buyer's SNK answer (within `withinHours`). */
export async function awaitingTerms(sql: Sql, userId: string, withinHours: number): Promise<AwaitingTerms | undefined> {
  const [row] = await sql<{ order_id: string; public_id: string; product_id: number; name: string; content: string }[]>`
    SELECT o.id AS order_id, o.public_id, p.id AS product_id, p.name, t.content
      FROM orders o
      JOIN order_items oi ON oi.order_id = o.id
      JOIN products p ON p.id = oi.product_id
      JOIN product_terms t ON t.product_id = p.id AND t.requires_submission
     WHERE o.user_id = ${userId} AND o.status IN ('paid', 'delivered')
       AND o.paid_at >= now() - make_interval(hours => ${withinHours})
       AND NOT EXISTS (SELECT 1 FROM product_term_submissions s WHERE s.order_id = o.id AND s.product_id = p.id)
     ORDER BY o.paid_at, o.id, p.id
     LIMIT 1`;
  return row ? { orderId: String(row.order_id), publicId: row.public_id, productId: row.product_id, productName: row.name, content: row.content } : undefined;
}

/** How long after "✅ Penuhi SNK" the buyer's next text or photo is taken as the answer. */
export const TERMS_SESSION_MINUTES = 60;

/**
 * The buyer tapped "✅ Penuhi SNK" for one product of one order: if that line is theirs, paid and
 * still unanswered, it becomes what their next text or photo answers (one at a time per buyer).
 */
export async function startTermsSession(
  sql: Sql,
  userId: string,
  orderId: string,
  productId: number,
): Promise<{ ok: true; terms: AwaitingTerms } | { ok: false; reason: 'not_found' | 'answered' }> {
  const [row] = await sql<{ public_id: string; name: string; content: string; answered: boolean }[]>`
    SELECT o.public_id, p.name, t.content,
           EXISTS (SELECT 1 FROM product_term_submissions s WHERE s.order_id = o.id AND s.product_id = p.id) AS answered
      FROM orders o
      JOIN order_items oi ON oi.order_id = o.id AND oi.product_id = ${productId}
      JOIN products p ON p.id = oi.product_id
      JOIN product_terms t ON t.product_id = p.id AND t.requires_submission
     WHERE o.id = ${orderId} AND o.user_id = ${userId} AND o.status IN ('paid', 'delivered')
     LIMIT 1`;
  if (!row) return { ok: false, reason: 'not_found' };
  if (row.answered) return { ok: false, reason: 'answered' };
  await sql`
    INSERT INTO terms_sessions (user_id, order_id, product_id) VALUES (${userId}, ${orderId}, ${productId})
    ON CONFLICT (user_id) DO UPDATE SET order_id = EXCLUDED.order_id, product_id = EXCLUDED.product_id, started_at = now()`;
  return { ok: true, terms: { orderId, publicId: row.public_id, productId, productName: row.name, content: row.content } };
}

/** The order line the buyer is answering now (tapped "✅ Penuhi SNK" within the last hour, not answered yet). */
export async function activeTermsSession(sql: Sql, userId: string): Promise<AwaitingTerms | undefined> {
  const [row] = await sql<{ order_id: string; public_id: string; product_id: number; name: string; content: string }[]>`
    SELECT s.order_id, o.public_id, s.product_id, p.name, t.content
      FROM terms_sessions s
      JOIN orders o ON o.id = s.order_id
      JOIN products p ON p.id = s.product_id
      JOIN product_terms t ON t.product_id = p.id
     WHERE s.user_id = ${userId} AND s.started_at >= now() - make_interval(mins => ${TERMS_SESSION_MINUTES})
       AND NOT EXISTS (SELECT 1 FROM product_term_submissions x WHERE x.order_id = s.order_id AND x.product_id = s.product_id)`;
  return row ? { orderId: String(row.order_id), publicId: row.public_id, productId: row.product_id, productName: row.name, content: row.content } : undefined;
}

/** Stores a buyer's SNK answer encrypted; false when this order line was already answered. */
export async function saveTermsSubmission(
  sql: Sql,
  cipher: FieldCipher,
  s: { userId: string; orderId: string; productId: number; kind: 'text' | 'photo'; content: string },
): Promise<boolean> {
  const rows = await sql`
    INSERT INTO product_term_submissions (product_id, order_id, user_id, kind, content_enc)
    VALUES (${s.productId}, ${s.orderId}, ${s.userId}, ${s.kind}, ${cipher.encrypt(s.content, SNK_CONTENT_CONTEXT)})
    ON CONFLICT (order_id, product_id) DO NOTHING
    RETURNING id`;
  await sql`DELETE FROM terms_sessions WHERE user_id = ${s.userId} AND order_id = ${s.orderId} AND product_id = ${s.productId}`;
  return rows.length === 1;
}

/** Deletes SNK submissions older than `days`; returns how many. */
export async function purgeTermsSubmissions(sql: Sql, days: number, now: Date): Promise<number> {
  const cutoff = new Date(now.getTime() - days * 86_400_000);
  const rows = await sql`DELETE FROM product_term_submissions WHERE created_at < ${cutoff} RETURNING id`;
  return rows.length;
}
