import type { Sql } from '../db/connection.js';
import type { GatewayStatus, PaymentGateway } from './gateway.js';
import { n } from './sql-helpers.js';
import { takeStock, releaseStock } from './stock.js';
import { openMessages, type InvoiceMessage } from './invoice-messages.js';

// Payments and settlement. Everything that grants goods or balance is idempotent: a payment row
// is locked and its status re-read before anything changes, so replayed or concurrent
// confirmations and the expiry job cannot grant twice or undo a payment. Telegram and the gateway
// are called outside transactions.

export type InvoiceKind = 'order' | 'deposit';

export interface PendingInvoice {
  kind: InvoiceKind;
  /** payments.id or deposits.id. */
  id: string;
  publicId: string;
  /** The price (orders) or the deposit. */
  amount: number;
  /** What the buyer pays, the gateway's fee included. */
  total: number;
  qris: string | null;
  expiresAt: Date;
  /** What it is for, for the invoice text. */
  what: string;
}

/** A buyer's own invoice that is still open, or undefined (paid, expired, cancelled, someone else's). */
export async function pendingInvoice(sql: Sql, userId: string, kind: InvoiceKind, id: string): Promise<PendingInvoice | undefined> {
  const rows =
    kind === 'order'
      ? await sql<{ gateway_order_id: string; amount: string; total_payment: string; qris_string: string | null; expires_at: Date; what: string }[]>`
          SELECT p.gateway_order_id, p.amount, p.total_payment, p.qris_string, p.expires_at,
                 (SELECT string_agg(pr.name || ' × ' || i.quantity, ', ' ORDER BY i.id) FROM order_items i JOIN products pr ON pr.id = i.product_id WHERE i.order_id = o.id) AS what
            FROM payments p JOIN orders o ON o.id = p.order_id
           WHERE p.id = ${id} AND o.user_id = ${userId} AND p.status = 'pending' AND o.status = 'pending'`
      : await sql<{ gateway_order_id: string; amount: string; total_payment: string; qris_string: string | null; expires_at: Date; what: string }[]>`
          SELECT gateway_order_id, amount, total_payment, qris_string, expires_at, 'Deposit saldo' AS what
            FROM deposits WHERE id = ${id} AND user_id = ${userId} AND status = 'pending'`;
  const r = rows[0];
  if (!r) return undefined;
  return { kind, id, publicId: r.gateway_order_id, amount: n(r.amount), total: n(r.total_payment), qris: r.qris_string, expiresAt: r.expires_at, what: r.what };
}

/**
 * The QR could not be shown: the reserved stock is held only until `until` (not the whole
 * gateway expiry); the expiry job then asks the gateway and releases it. Returns the new deadline.
 */
export async function shortenHold(sql: Sql, kind: InvoiceKind, id: string, until: Date): Promise<Date | undefined> {
  if (kind === 'deposit') {
    const [d] = await sql<{ expires_at: Date }[]>`
      UPDATE deposits SET expires_at = least(expires_at, ${until}), updated_at = now() WHERE id = ${id} AND status = 'pending' RETURNING expires_at`;
    return d?.expires_at;
  }
  return (await sql.begin(async (tx) => {
    const [p] = await tx<{ expires_at: Date; order_id: string }[]>`
      UPDATE payments SET expires_at = least(expires_at, ${until}), updated_at = now() WHERE id = ${id} AND status = 'pending' RETURNING expires_at, order_id`;
    if (p) await tx`UPDATE orders SET expires_at = ${p.expires_at} WHERE id = ${p.order_id} AND status = 'pending'`;
    return p?.expires_at;
  })) as Date | undefined;
}

/**
 * The buyer cancels their open invoice: the order is cancelled and its stock released at once
 * (a deposit is marked failed). A payment that still arrives later is honoured as a late one.
 */
export async function cancelInvoice(
  sql: Sql,
  userId: string,
  kind: InvoiceKind,
  id: string,
): Promise<{ publicId: string; released: number; messages: InvoiceMessage[] } | undefined> {
  return (await sql.begin(async (tx) => {
    if (kind === 'deposit') {
      const [d] = await tx<{ gateway_order_id: string }[]>`
        UPDATE deposits SET status = 'failed', updated_at = now() WHERE id = ${id} AND user_id = ${userId} AND status = 'pending' RETURNING gateway_order_id`;
      if (!d) return undefined;
      await tx`INSERT INTO audit_log (actor, action, details) VALUES ('buyer', 'deposit_cancelled', ${tx.json({ deposit: d.gateway_order_id })})`;
      return { publicId: d.gateway_order_id, released: 0, messages: await openMessages(tx as unknown as Sql, { depositId: id }) };
    }
    const [p] = await tx<{ gateway_order_id: string; order_id: string }[]>`
      SELECT p.gateway_order_id, p.order_id FROM payments p JOIN orders o ON o.id = p.order_id
       WHERE p.id = ${id} AND o.user_id = ${userId} AND p.status = 'pending' AND o.status = 'pending'
       FOR UPDATE OF p, o`;
    if (!p) return undefined;
    await tx`UPDATE payments SET status = 'failed', updated_at = now() WHERE id = ${id}`;
    await tx`UPDATE orders SET status = 'cancelled' WHERE id = ${p.order_id}`;
    const released = await releaseStock(tx as unknown as Sql, String(p.order_id));
    await tx`INSERT INTO audit_log (actor, action, details) VALUES ('buyer', 'order_cancelled', ${tx.json({ order: p.gateway_order_id, released })})`;
    return { publicId: p.gateway_order_id, released, messages: await openMessages(tx as unknown as Sql, { paymentId: id }) };
  })) as { publicId: string; released: number; messages: InvoiceMessage[] } | undefined;
}

// ---------------------------------------------------------------------------------------------
// Payment confirmation

export type SettleOutcome =
  | { outcome: 'unknown_invoice'; gatewayOrderId: string }
  | { outcome: 'not_paid'; gatewayOrderId: string; gatewayStatus: GatewayStatus | 'not_found' }
  | { outcome: 'mismatch'; gatewayOrderId: string; detail: string }
  | { outcome: 'already_settled'; gatewayOrderId: string; kind: 'order' | 'deposit' }
  | { outcome: 'order_paid'; gatewayOrderId: string; orderId: string; chatId: number; amount: number; late: boolean; messages: InvoiceMessage[] }
  | {
      outcome: 'order_refunded';
      gatewayOrderId: string;
      orderId: string;
      chatId: number;
      /** What the buyer paid (the gateway's fee included): all of it goes to the balance. */
      amount: number;
      /** The order's price; `amount - price` is the fee. */
      price: number;
      balance: number;
      messages: InvoiceMessage[];
    }
  | {
      outcome: 'deposit_credited';
      gatewayOrderId: string;
      depositId: string;
      chatId: number;
      amount: number;
      balance: number;
      late: boolean;
      messages: InvoiceMessage[];
    };

/** Outcomes that changed money or goods (the caller delivers and notifies). */
export const SETTLED_NOW = new Set(['order_paid', 'order_refunded', 'deposit_credited']);

/**
 * Confirms a payment: looks the invoice up, asks the gateway (the only source of truth), checks
 * status, order id and amount, then applies it under a row lock, exactly once.
 */
export async function settleInvoice(deps: { sql: Sql; gateway: PaymentGateway }, gatewayOrderId: string): Promise<SettleOutcome> {
  const { sql, gateway } = deps;
  const [inv] = await sql<{ kind: 'order' | 'deposit'; id: string; amount: string; status: string }[]>`
    SELECT 'order' AS kind, id, amount, status FROM payments WHERE gateway_order_id = ${gatewayOrderId}
    UNION ALL
    SELECT 'deposit' AS kind, id, amount, status FROM deposits WHERE gateway_order_id = ${gatewayOrderId}`;
  if (!inv) return { outcome: 'unknown_invoice', gatewayOrderId };
  if (inv.status === 'completed') return { outcome: 'already_settled', gatewayOrderId, kind: inv.kind };
  const amount = n(inv.amount);
  const t = await gateway.getTransaction({ orderId: gatewayOrderId, amount });
  if (!t) return { outcome: 'not_paid', gatewayOrderId, gatewayStatus: 'not_found' };
  if (t.orderId !== gatewayOrderId || t.amount !== amount) {
    return {
      outcome: 'mismatch',
      gatewayOrderId,
      detail: `gateway reports order ${t.orderId} amount ${t.amount}, expected ${gatewayOrderId} amount ${amount}`,
    };
  }
  if (t.status !== 'completed') return { outcome: 'not_paid', gatewayOrderId, gatewayStatus: t.status };
  return inv.kind === 'order' ? applyOrderPayment(sql, inv.id, gatewayOrderId) : applyDeposit(sql, inv.id, gatewayOrderId);
}

async function applyOrderPayment(sql: Sql, paymentId: string, gatewayOrderId: string): Promise<SettleOutcome> {
  return (await sql.begin(async (tx) => {
    const [p] = await tx<
      { status: string; order_id: string; amount: string; total_payment: string; user_id: string; telegram_id: string; total_amount: string }[]
    >`
      SELECT p.status, p.order_id, p.amount, p.total_payment, o.user_id, u.telegram_id, o.total_amount
        FROM payments p JOIN orders o ON o.id = p.order_id JOIN users u ON u.id = o.user_id
       WHERE p.id = ${paymentId}
       FOR UPDATE OF p, o`;
    if (!p) return { outcome: 'unknown_invoice', gatewayOrderId };
    if (p.status === 'completed') return { outcome: 'already_settled', gatewayOrderId, kind: 'order' };
    const late = p.status !== 'pending';
    const orderId = String(p.order_id);
    await tx`UPDATE payments SET status = 'completed', paid_at = now(), updated_at = now() WHERE id = ${paymentId}`;

    // Normally the reserved items are there; after an expiry they went back and are taken again.
    const items = await tx<{ product_id: number; quantity: number }[]>`SELECT product_id, quantity FROM order_items WHERE order_id = ${orderId}`;
    const reserved = await tx<{ id: string; product_id: number }[]>`
      SELECT id, product_id FROM product_stock_items WHERE order_id = ${orderId} AND status = 'reserved' FOR UPDATE`;
    const extra: string[] = [];
    let short = false;
    for (const item of items) {
      const have = reserved.filter((r) => r.product_id === item.product_id).length;
      if (have >= item.quantity) continue;
      const got = await takeStock(tx as unknown as Sql, item.product_id, item.quantity - have);
      if (got.length < item.quantity - have) short = true;
      extra.push(...got);
    }
    const messages = await openMessages(tx as unknown as Sql, { paymentId });
    const amount = n(p.total_amount);
    if (short) {
      // Paid after the stock was sold to someone else: the money goes to the balance, nothing is
      // lost: all the buyer paid, the gateway's fee too (the shop bears it, not the buyer).
      const paid = Math.max(amount, n(p.total_payment));
      await tx`
        UPDATE product_stock_items SET status = 'available', order_id = NULL, reserved_at = NULL
         WHERE order_id = ${orderId} AND status = 'reserved'`;
      await tx`UPDATE orders SET status = 'cancelled', paid_at = now() WHERE id = ${orderId}`;
      await tx`INSERT INTO balance_ledger (user_id, delta, reason, order_id) VALUES (${p.user_id}, ${paid}, 'refund', ${orderId})`;
      const [u] = await tx<{ balance: string }[]>`UPDATE users SET balance = balance + ${paid}, updated_at = now() WHERE id = ${p.user_id} RETURNING balance`;
      await tx`INSERT INTO audit_log (actor, action, details) VALUES ('bot', 'order_refunded', ${tx.json({ order: gatewayOrderId, amount: paid, price: amount, reason: 'paid after expiry, out of stock' })})`;
      return { outcome: 'order_refunded', gatewayOrderId, orderId, chatId: n(p.telegram_id), amount: paid, price: amount, balance: n(u!.balance), messages };
    }
    if (extra.length) {
      await tx`UPDATE product_stock_items SET status = 'reserved', order_id = ${orderId}, reserved_at = now() WHERE id IN ${tx(extra)}`;
    }
    await tx`UPDATE product_stock_items SET status = 'sold', sold_at = now() WHERE order_id = ${orderId} AND status = 'reserved'`;
    await tx`UPDATE orders SET status = 'paid', paid_at = now() WHERE id = ${orderId}`;
    await tx`INSERT INTO audit_log (actor, action, details) VALUES ('bot', 'order_paid', ${tx.json({ order: gatewayOrderId, amount, method: 'qris', late })})`;
    return { outcome: 'order_paid', gatewayOrderId, orderId, chatId: n(p.telegram_id), amount, late, messages };
  })) as SettleOutcome;
}

async function applyDeposit(sql: Sql, depositId: string, gatewayOrderId: string): Promise<SettleOutcome> {
  return (await sql.begin(async (tx) => {
    const [d] = await tx<{ status: string; amount: string; user_id: string; telegram_id: string }[]>`
      SELECT d.status, d.amount, d.user_id, u.telegram_id FROM deposits d JOIN users u ON u.id = d.user_id
       WHERE d.id = ${depositId} FOR UPDATE OF d`;
    if (!d) return { outcome: 'unknown_invoice', gatewayOrderId };
    if (d.status === 'completed') return { outcome: 'already_settled', gatewayOrderId, kind: 'deposit' };
    const amount = n(d.amount);
    await tx`UPDATE deposits SET status = 'completed', paid_at = now(), updated_at = now() WHERE id = ${depositId}`;
    // The unique index on (deposit_id) for reason 'deposit' is the last line of defence against a double credit.
    await tx`INSERT INTO balance_ledger (user_id, delta, reason, deposit_id) VALUES (${d.user_id}, ${amount}, 'deposit', ${depositId})`;
    const [u] = await tx<{ balance: string }[]>`UPDATE users SET balance = balance + ${amount}, updated_at = now() WHERE id = ${d.user_id} RETURNING balance`;
    await tx`INSERT INTO audit_log (actor, action, details) VALUES ('bot', 'deposit_credited', ${tx.json({ deposit: gatewayOrderId, amount, late: d.status !== 'pending' })})`;
    const messages = await openMessages(tx as unknown as Sql, { depositId });
    return {
      outcome: 'deposit_credited',
      gatewayOrderId,
      depositId,
      chatId: n(d.telegram_id),
      amount,
      balance: n(u!.balance),
      late: d.status !== 'pending',
      messages,
    };
  })) as SettleOutcome;
}
