import crypto from 'node:crypto';
import type { FieldCipher } from '../crypto/field-encryption.js';
import type { Sql } from '../db/connection.js';
import { STOCK_SECRET_CONTEXT } from './field-contexts.js';
import type { GatewayInvoice } from './gateway.js';
import { type CatalogProduct, getProduct } from './catalog.js';
import { n } from './sql-helpers.js';
import { takeStock } from './stock.js';

// Orders and stock: reservation, invoices, delivery. Money and stock rules in SQL transactions
// with row locks.

export function newPublicId(prefix: 'INV' | 'DEP', now: Date): string {
  const d = now.toISOString().slice(2, 10).replace(/-/g, '');
  const alphabet = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
  const bytes = crypto.randomBytes(8);
  const tail = Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
  return `${prefix}-${d}-${tail}`;
}

export type ReserveResult =
  | { ok: true; orderId: string; publicId: string; total: number; product: CatalogProduct }
  | { ok: false; reason: 'unavailable' | 'out_of_stock'; available: number };

/**
 * A pending QRIS order holding `quantity` stock items. Stock rows are locked with SKIP LOCKED,
 * so two buyers never get the same item and nobody waits behind another checkout.
 */
export async function reserveOrder(
  sql: Sql,
  req: { userId: string; productId: number; quantity: number; expiresAt: Date; publicId: string },
): Promise<ReserveResult> {
  return (await sql.begin(async (tx) => {
    const product = await getProduct(tx as unknown as Sql, req.productId);
    if (!product) return { ok: false, reason: 'unavailable', available: 0 };
    const ids = await takeStock(tx as unknown as Sql, req.productId, req.quantity);
    if (ids.length < req.quantity) return { ok: false, reason: 'out_of_stock', available: ids.length };
    const total = product.price * req.quantity;
    const [order] = await tx<{ id: string }[]>`
      INSERT INTO orders (public_id, user_id, status, total_amount, payment_method, expires_at)
      VALUES (${req.publicId}, ${req.userId}, 'pending', ${total}, 'qris', ${req.expiresAt})
      RETURNING id`;
    await tx`INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES (${order!.id}, ${product.id}, ${req.quantity}, ${product.price})`;
    await tx`UPDATE product_stock_items SET status = 'reserved', order_id = ${order!.id}, reserved_at = now() WHERE id IN ${tx(ids)}`;
    return { ok: true, orderId: String(order!.id), publicId: req.publicId, total, product };
  })) as ReserveResult;
}

/** Stores the gateway's invoice for a reserved order; the order expires with the invoice. */
export async function attachInvoice(sql: Sql, orderId: string, invoice: GatewayInvoice): Promise<string> {
  return (await sql.begin(async (tx) => {
    const [p] = await tx<{ id: string }[]>`
      INSERT INTO payments (order_id, gateway_order_id, amount, total_payment, qris_string, expires_at)
      VALUES (${orderId}, ${invoice.orderId}, ${invoice.amount}, ${invoice.totalPayment}, ${invoice.qrisString}, ${invoice.expiresAt})
      RETURNING id`;
    await tx`UPDATE orders SET expires_at = ${invoice.expiresAt} WHERE id = ${orderId}`;
    return String(p!.id);
  })) as string;
}

/** The gateway refused or failed: the order fails and its stock goes back, once. */
export async function abandonOrder(sql: Sql, orderId: string): Promise<number> {
  return (await sql.begin(async (tx) => {
    const [o] = await tx<{ status: string }[]>`SELECT status FROM orders WHERE id = ${orderId} FOR UPDATE`;
    if (o?.status !== 'pending') return 0;
    await tx`UPDATE orders SET status = 'failed' WHERE id = ${orderId}`;
    const released = await tx`
      UPDATE product_stock_items SET status = 'available', order_id = NULL, reserved_at = NULL
       WHERE order_id = ${orderId} AND status = 'reserved' RETURNING id`;
    return released.length;
  })) as number;
}

export interface Delivery {
  orderId: string;
  publicId: string;
  chatId: number;
  total: number;
  paymentMethod: string;
  items: { productId: number; productName: string; quantity: number; secrets: string[] }[];
  /** Products in the order whose terms the buyer must answer (SNK). */
  terms: { productId: number; productName: string; content: string }[];
}

/** What an order delivered (secrets decrypted): for the delivery message and for its own buyer. */
export async function loadDelivery(sql: Sql, cipher: FieldCipher, orderId: string): Promise<Delivery> {
  const [o] = await sql<{ public_id: string; telegram_id: string; total_amount: string; payment_method: string }[]>`
    SELECT o.public_id, u.telegram_id, o.total_amount, o.payment_method FROM orders o JOIN users u ON u.id = o.user_id WHERE o.id = ${orderId}`;
  const items = await sql<{ product_id: number; name: string; quantity: number; terms: string | null; requires: boolean | null }[]>`
    SELECT oi.product_id, p.name, oi.quantity, t.content AS terms, t.requires_submission AS requires
      FROM order_items oi JOIN products p ON p.id = oi.product_id LEFT JOIN product_terms t ON t.product_id = oi.product_id
     WHERE oi.order_id = ${orderId} ORDER BY oi.id`;
  const stock = await sql<{ product_id: number; secret_enc: string }[]>`
    SELECT product_id, secret_enc FROM product_stock_items WHERE order_id = ${orderId} AND status = 'sold' ORDER BY id`;
  return {
    orderId,
    publicId: o!.public_id,
    chatId: n(o!.telegram_id),
    total: n(o!.total_amount),
    paymentMethod: o!.payment_method,
    items: items.map((i) => ({
      productId: i.product_id,
      productName: i.name,
      quantity: i.quantity,
      secrets: stock.filter((s) => s.product_id === i.product_id).map((s) => cipher.decryptText(s.secret_enc, STOCK_SECRET_CONTEXT)),
    })),
    terms: items.filter((i) => i.terms && i.requires).map((i) => ({ productId: i.product_id, productName: i.name, content: i.terms! })),
  };
}

export async function markDelivered(sql: Sql, orderId: string): Promise<void> {
  await sql`UPDATE orders SET status = 'delivered', delivered_at = now() WHERE id = ${orderId} AND status = 'paid'`;
}

/** Orders of one buyer, newest first (a buyer sees only their own). */
export async function listUserOrders(
  sql: Sql,
  userId: string,
  limit = 5,
): Promise<{ id: string; publicId: string; status: string; total: number; createdAt: Date }[]> {
  const rows = await sql<{ id: string; public_id: string; status: string; total_amount: string; created_at: Date }[]>`
    SELECT id, public_id, status, total_amount, created_at FROM orders WHERE user_id = ${userId} ORDER BY created_at DESC, id DESC LIMIT ${limit}`;
  return rows.map((r) => ({ id: String(r.id), publicId: r.public_id, status: r.status, total: n(r.total_amount), createdAt: r.created_at }));
}

export async function findUserOrder(sql: Sql, userId: string, orderId: string): Promise<{ id: string; status: string } | undefined> {
  if (!/^\d{1,18}$/.test(orderId)) return undefined;
  const [row] = await sql<{ id: string; status: string }[]>`SELECT id, status FROM orders WHERE id = ${orderId} AND user_id = ${userId}`;
  return row ? { id: String(row.id), status: row.status } : undefined;
}

/** An order as the shop's staff see it (/order): never the goods' secrets. */
export interface OrderDetail {
  id: string;
  publicId: string;
  status: string;
  createdAt: Date;
  paidAt: Date | null;
  deliveredAt: Date | null;
  total: number;
  paymentMethod: string;
  buyer: { telegramId: number; username: string | null; firstName: string | null; blocked: boolean };
  items: { productName: string; code: string; quantity: number }[];
  payment: { gatewayOrderId: string; status: string; totalPayment: number; expiresAt: Date; paidAt: Date | null } | undefined;
  delivery: { attempts: number; error: string | null; givenUp: boolean };
}

/** One order by its public id (INV-…) or its number; undefined when there is none. */
export async function orderDetail(sql: Sql, ref: string): Promise<OrderDetail | undefined> {
  const byNumber = /^\d{1,18}$/.test(ref);
  if (!byNumber && !/^[A-Za-z0-9-]{1,64}$/.test(ref)) return undefined;
  const [o] = await sql<
    {
      id: string;
      public_id: string;
      status: string;
      created_at: Date;
      paid_at: Date | null;
      delivered_at: Date | null;
      total_amount: string;
      payment_method: string;
      telegram_id: string;
      username: string | null;
      first_name: string | null;
      blocked_at: Date | null;
      delivery_attempts: number;
      delivery_error: string | null;
      delivery_given_up_at: Date | null;
    }[]
  >`
    SELECT o.id, o.public_id, o.status, o.created_at, o.paid_at, o.delivered_at, o.total_amount, o.payment_method,
           u.telegram_id, u.username, u.first_name, u.blocked_at, o.delivery_attempts, o.delivery_error, o.delivery_given_up_at
      FROM orders o JOIN users u ON u.id = o.user_id
     WHERE ${byNumber ? sql`o.id = ${ref}` : sql`upper(o.public_id) = ${ref.toUpperCase()}`}`;
  if (!o) return undefined;
  const items = await sql<{ name: string; code: string; quantity: number }[]>`
    SELECT p.name, p.code, i.quantity FROM order_items i JOIN products p ON p.id = i.product_id WHERE i.order_id = ${o.id} ORDER BY i.id`;
  const [p] = await sql<{ gateway_order_id: string; status: string; total_payment: string; expires_at: Date; paid_at: Date | null }[]>`
    SELECT gateway_order_id, status, total_payment, expires_at, paid_at FROM payments WHERE order_id = ${o.id}`;
  return {
    id: String(o.id),
    publicId: o.public_id,
    status: o.status,
    createdAt: o.created_at,
    paidAt: o.paid_at,
    deliveredAt: o.delivered_at,
    total: n(o.total_amount),
    paymentMethod: o.payment_method,
    buyer: { telegramId: n(o.telegram_id), username: o.username, firstName: o.first_name, blocked: o.blocked_at !== null },
    items: items.map((i) => ({ productName: i.name, code: i.code, quantity: i.quantity })),
    payment: p
      ? { gatewayOrderId: p.gateway_order_id, status: p.status, totalPayment: n(p.total_payment), expiresAt: p.expires_at, paidAt: p.paid_at }
      : undefined,
    delivery: { attempts: o.delivery_attempts, error: o.delivery_error, givenUp: o.delivery_given_up_at !== null },
  };
}
