import type { Sql } from '../db/connection.js';
import { type Tx, n } from './sql-helpers.js';

// The chat messages that show an invoice: removed or replaced once it is paid or expired.

export interface InvoiceMessage {
  id: string;
  chatId: number;
  messageId: number;
  kind: string;
  /** A deposit's invoice (logged `[expired_deposits]`), else an order's (`[expired_payments]`). */
  forDeposit?: boolean;
  /** Removal attempts that failed so far. */
  attempts?: number;
}

export async function recordInvoiceMessage(
  sql: Sql,
  m: { paymentId?: string; depositId?: string; chatId: number; messageId: number; kind: 'qris' | 'text' },
): Promise<void> {
  await sql`
    INSERT INTO invoice_messages (payment_id, deposit_id, chat_id, message_id, kind)
    VALUES (${m.paymentId ?? null}, ${m.depositId ?? null}, ${m.chatId}, ${m.messageId}, ${m.kind})`;
}

/** The invoice messages of a payment or deposit not removed yet (inside a transaction). */
export async function openMessages(tx: Tx, where: { paymentId?: string; depositId?: string }): Promise<InvoiceMessage[]> {
  const rows = where.paymentId
    ? await tx<{ id: string; chat_id: string; message_id: string; kind: string }[]>`
        SELECT id, chat_id, message_id, kind FROM invoice_messages WHERE payment_id = ${where.paymentId} AND removed_at IS NULL ORDER BY id`
    : await tx<{ id: string; chat_id: string; message_id: string; kind: string }[]>`
        SELECT id, chat_id, message_id, kind FROM invoice_messages WHERE deposit_id = ${where.depositId!} AND removed_at IS NULL ORDER BY id`;
  return rows.map((r) => ({ id: String(r.id), chatId: n(r.chat_id), messageId: n(r.message_id), kind: r.kind, forDeposit: !where.paymentId }));
}
