import type { Sql } from '../db/connection.js';
import type { GatewayInvoice } from './gateway.js';
import { getProduct } from './catalog.js';
import { n } from './sql-helpers.js';
import { takeStock } from './stock.js';

// Deposits and the balance (saldo).

export type BalancePayResult =
  | { ok: true; orderId: string; publicId: string; total: number; balance: number }
  | { ok: false; reason: 'unavailable' | 'out_of_stock'; available: number }
  | { ok: false; reason: 'insufficient'; balance: number; total: number };

/** Pays an order from the balance in one transaction: stock, order, ledger and balance together. */
export async function payWithBalance(sql: Sql, req: { userId: string; productId: number; quantity: number; publicId: string }): Promise<BalancePayResult> {
  return (await sql.begin(async (tx) => {
    const product = await getProduct(tx as unknown as Sql, req.productId);
    if (!product) return { ok: false, reason: 'unavailable', available: 0 };
    const total = product.price * req.quantity;
    const [user] = await tx<{ balance: string }[]>`SELECT balance FROM users WHERE id = ${req.userId} FOR UPDATE`;
    if (n(user!.balance) < total) return { ok: false, reason: 'insufficient', balance: n(user!.balance), total };
    const ids = await takeStock(tx as unknown as Sql, req.productId, req.quantity);
    if (ids.length < req.quantity) return { ok: false, reason: 'out_of_stock', available: ids.length };
    const [order] = await tx<{ id: string }[]>`
      INSERT INTO orders (public_id, user_id, status, total_amount, payment_method, paid_at)
      VALUES (${req.publicId}, ${req.userId}, 'paid', ${total}, 'balance', now())
      RETURNING id`;
    await tx`INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES (${order!.id}, ${product.id}, ${req.quantity}, ${product.price})`;
    await tx`UPDATE product_stock_items SET status = 'sold', order_id = ${order!.id}, reserved_at = now(), sold_at = now() WHERE id IN ${tx(ids)}`;
    await tx`INSERT INTO balance_ledger (user_id, delta, reason, order_id) VALUES (${req.userId}, ${-total}, 'order', ${order!.id})`;
    const [after] = await tx<
      { balance: string }[]
    >`UPDATE users SET balance = balance - ${total}, updated_at = now() WHERE id = ${req.userId} RETURNING balance`;
    await tx`INSERT INTO audit_log (actor, action, details) VALUES ('bot', 'order_paid', ${tx.json({ order: req.publicId, amount: total, method: 'balance' })})`;
    return { ok: true, orderId: String(order!.id), publicId: req.publicId, total, balance: n(after!.balance) };
  })) as BalancePayResult;
}

export async function createDeposit(sql: Sql, userId: string, invoice: GatewayInvoice): Promise<string> {
  const [d] = await sql<{ id: string }[]>`
    INSERT INTO deposits (user_id, gateway_order_id, amount, total_payment, qris_string, expires_at)
    VALUES (${userId}, ${invoice.orderId}, ${invoice.amount}, ${invoice.totalPayment}, ${invoice.qrisString}, ${invoice.expiresAt})
    RETURNING id`;
  return String(d!.id);
}
