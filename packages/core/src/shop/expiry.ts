import type { Sql } from '../db/connection.js';
import type { PaymentGateway } from './gateway.js';
import { SETTLED_NOW, type SettleOutcome, settleInvoice } from './payments.js';
import { n } from './sql-helpers.js';
import { releaseStock } from './stock.js';
import { openMessages, type InvoiceMessage } from './invoice-messages.js';

// Expiry of unpaid invoices and deposits.

export interface ExpiredInvoice {
  kind: 'order' | 'deposit';
  publicId: string;
  chatId: number;
  amount: number;
  /** Stock items that went back to `available` (orders only). */
  released: number;
  messages: InvoiceMessage[];
}

export interface ExpiryResult {
  /** False when another process held the expiry lock: this run did nothing. */
  ran: boolean;
  payments: ExpiredInvoice[];
  deposits: ExpiredInvoice[];
  /** Due invoices the gateway reported paid: confirmed instead of expired. */
  settled: SettleOutcome[];
  /** Due invoices the gateway reports with another amount or order: expired, and told to the owners. */
  mismatches: Extract<SettleOutcome, { outcome: 'mismatch' }>[];
  /** Due invoices that changed meanwhile (paid by a webhook): left alone. */
  skipped: number;
  /** Gateway look-ups that failed (the invoice was expired anyway; a late payment is still honoured). */
  gatewayErrors: string[];
}

/** One expiry run at a time across every bot instance and `botctl purge payments`. */
export const EXPIRY_LOCK = 0x65787069; // "expi"

/**
 * Expires invoices and deposits past their deadline, releasing reserved stock exactly once.
 * Before expiring, the gateway is asked whether the invoice was paid after all (a webhook lost
 * on the way); such invoices are confirmed instead. Each invoice is re-checked under its row
 * lock, so a payment confirmed meanwhile is never touched.
 */
export async function expireDueInvoices(deps: { sql: Sql; gateway: PaymentGateway | undefined }, opts: { now: Date; limit?: number }): Promise<ExpiryResult> {
  const { sql } = deps;
  const result: ExpiryResult = { ran: false, payments: [], deposits: [], settled: [], mismatches: [], skipped: 0, gatewayErrors: [] };
  const conn = await sql.reserve();
  try {
    const [lock] = await conn<{ ok: boolean }[]>`SELECT pg_try_advisory_lock(${EXPIRY_LOCK}) AS ok`;
    if (!lock?.ok) return result;
    result.ran = true;
    try {
      const limit = opts.limit ?? 500;
      const now = opts.now;
      const due = await sql<{ kind: 'order' | 'deposit'; gateway_order_id: string }[]>`
        SELECT 'order' AS kind, gateway_order_id FROM payments WHERE status = 'pending' AND expires_at <= ${now}
        UNION ALL
        SELECT 'deposit' AS kind, gateway_order_id FROM deposits WHERE status = 'pending' AND expires_at <= ${now}
        LIMIT ${limit}`;
      for (const d of due) {
        if (deps.gateway) {
          try {
            const s = await settleInvoice({ sql, gateway: deps.gateway }, d.gateway_order_id);
            if (SETTLED_NOW.has(s.outcome) || s.outcome === 'already_settled') {
              result.settled.push(s);
              continue;
            }
            if (s.outcome === 'mismatch') result.mismatches.push(s);
          } catch (error) {
            result.gatewayErrors.push(`${d.gateway_order_id}: ${(error as Error).message}`);
          }
        }
        const e = d.kind === 'order' ? await expireOrderInvoice(sql, d.gateway_order_id, now) : await expireDeposit(sql, d.gateway_order_id, now);
        if (e) (d.kind === 'order' ? result.payments : result.deposits).push(e);
        else result.skipped++;
      }
      // Orders that never got an invoice (the gateway failed and the bot stopped in between).
      const orphans = await sql<{ id: string }[]>`
        SELECT o.id FROM orders o
         WHERE o.status = 'pending' AND o.payment_method = 'qris' AND o.expires_at <= ${now}
           AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id)
         LIMIT ${limit}`;
      for (const o of orphans) {
        const e = await expireOrphanOrder(sql, String(o.id), now);
        if (e) result.payments.push(e);
      }
    } finally {
      await conn`SELECT pg_advisory_unlock(${EXPIRY_LOCK})`;
    }
  } finally {
    conn.release();
  }
  return result;
}

async function expireOrderInvoice(sql: Sql, gatewayOrderId: string, now: Date): Promise<ExpiredInvoice | undefined> {
  return (await sql.begin(async (tx) => {
    const [p] = await tx<{ id: string; status: string; expires_at: Date; order_id: string; total_payment: string; telegram_id: string }[]>`
      SELECT p.id, p.status, p.expires_at, p.order_id, p.total_payment, u.telegram_id
        FROM payments p JOIN orders o ON o.id = p.order_id JOIN users u ON u.id = o.user_id
       WHERE p.gateway_order_id = ${gatewayOrderId}
       FOR UPDATE OF p, o`;
    if (p?.status !== 'pending' || p.expires_at > now) return undefined;
    await tx`UPDATE payments SET status = 'expired', updated_at = now() WHERE id = ${p.id}`;
    await tx`UPDATE orders SET status = 'expired' WHERE id = ${p.order_id} AND status = 'pending'`;
    const released = await releaseStock(tx as unknown as Sql, String(p.order_id));
    const messages = await openMessages(tx as unknown as Sql, { paymentId: String(p.id) });
    return { kind: 'order', publicId: gatewayOrderId, chatId: n(p.telegram_id), amount: n(p.total_payment), released, messages };
  })) as ExpiredInvoice | undefined;
}

async function expireOrphanOrder(sql: Sql, orderId: string, now: Date): Promise<ExpiredInvoice | undefined> {
  return (await sql.begin(async (tx) => {
    const [o] = await tx<{ status: string; expires_at: Date; public_id: string; total_amount: string; telegram_id: string }[]>`
      SELECT o.status, o.expires_at, o.public_id, o.total_amount, u.telegram_id
        FROM orders o JOIN users u ON u.id = o.user_id WHERE o.id = ${orderId} FOR UPDATE OF o`;
    if (o?.status !== 'pending' || o.expires_at > now) return undefined;
    const [hasPayment] = await tx`SELECT 1 FROM payments WHERE order_id = ${orderId}`;
    if (hasPayment) return undefined;
    await tx`UPDATE orders SET status = 'expired' WHERE id = ${orderId}`;
    const released = await releaseStock(tx as unknown as Sql, orderId);
    return { kind: 'order', publicId: o.public_id, chatId: n(o.telegram_id), amount: n(o.total_amount), released, messages: [] };
  })) as ExpiredInvoice | undefined;
}

async function expireDeposit(sql: Sql, gatewayOrderId: string, now: Date): Promise<ExpiredInvoice | undefined> {
  return (await sql.begin(async (tx) => {
    const [d] = await tx<{ id: string; status: string; expires_at: Date; total_payment: string; telegram_id: string }[]>`
      SELECT d.id, d.status, d.expires_at, d.total_payment, u.telegram_id
        FROM deposits d JOIN users u ON u.id = d.user_id WHERE d.gateway_order_id = ${gatewayOrderId} FOR UPDATE OF d`;
    if (d?.status !== 'pending' || d.expires_at > now) return undefined;
    await tx`UPDATE deposits SET status = 'expired', updated_at = now() WHERE id = ${d.id}`;
    const messages = await openMessages(tx as unknown as Sql, { depositId: String(d.id) });
    return { kind: 'deposit', publicId: gatewayOrderId, chatId: n(d.telegram_id), amount: n(d.total_payment), released: 0, messages };
  })) as ExpiredInvoice | undefined;
}
