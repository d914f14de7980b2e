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
  return rows.length === 1;
}

/** Deletes SNK submissions older than `days`; returns how many. */
export async function purgeTermsSubmissions(sql: Sql, days: number, now: Date): Promise<number> {
  const cutoff = new Date(now.getTime() - days * 86_400_000);
  const rows = await sql`DELETE FROM product_term_submissions WHERE created_at < ${cutoff} RETURNING id`;
  return rows.length;
}
