import crypto from 'node:crypto';
import type { FieldCipher } from '../crypto/field-encryption.js';
import type { Sql } from '../db/connection.js';
import { SNK_CONTENT_CONTEXT, STOCK_SECRET_CONTEXT } from '../db/seed-demo.js';
import type { GatewayInvoice, GatewayStatus, PaymentGateway } from './gateway.js';

/**
 * The shop's money and stock rules, in SQL transactions with row locks. Everything that grants
 * goods or balance is idempotent: a payment row is locked and its status re-read before anything
 * changes, so replayed or concurrent confirmations and the expiry job cannot grant twice or undo
 * a payment. Telegram and the gateway are called outside transactions.
 */

type Tx = Sql;
const n = (v: unknown): number => Number(v);

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

export interface CatalogProduct {
  id: number;
  code: string;
  name: string;
  description: string;
  price: number;
  stock: number;
  terms: string | undefined;
}

export async function listProducts(sql: Sql, page: number, perPage: number): Promise<{ products: CatalogProduct[]; total: number; pages: number; page: number }> {
  const [{ total } = { total: '0' }] = await sql<{ total: string }[]>`SELECT count(*) AS total FROM products WHERE is_active`;
  const pages = Math.max(1, Math.ceil(n(total) / perPage));
  const p = Math.min(Math.max(0, page), pages - 1);
  const rows = await sql<{ id: number; code: string; name: string; description: string; price: string; stock: string; terms: string | null }[]>`
    SELECT p.id, p.code, p.name, p.description, p.price,
           (SELECT count(*) FROM product_stock_items s WHERE s.product_id = p.id AND s.status = 'available') AS stock,
           t.content AS terms
      FROM products p LEFT JOIN product_terms t ON t.product_id = p.id
     WHERE p.is_active
     ORDER BY p.sort_order, p.id
     LIMIT ${perPage} OFFSET ${p * perPage}`;
  return { products: rows.map(toProduct), total: n(total), pages, page: p };
}

export async function getProduct(sql: Sql, id: number): Promise<CatalogProduct | undefined> {
  const [row] = await sql<{ id: number; code: string; name: string; description: string; price: string; stock: string; terms: string | null }[]>`
    SELECT p.id, p.code, p.name, p.description, p.price,
           (SELECT count(*) FROM product_stock_items s WHERE s.product_id = p.id AND s.status = 'available') AS stock,
           t.content AS terms
      FROM products p LEFT JOIN product_terms t ON t.product_id = p.id
     WHERE p.id = ${id} AND p.is_active`;
  return row ? toProduct(row) : undefined;
}

function toProduct(r: { id: number; code: string; name: string; description: string; price: string; stock: string; terms: string | null }): CatalogProduct {
  return { id: r.id, code: r.code, name: r.name, description: r.description, price: n(r.price), stock: n(r.stock), terms: r.terms ?? undefined };
}

/** `INV-241124-7K3QX9`: what the buyer and the gateway know an order by. */
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

async function takeStock(tx: Tx, productId: number, quantity: number): Promise<string[]> {
  const rows = await tx<{ id: string }[]>`
    SELECT id FROM product_stock_items
     WHERE product_id = ${productId} AND status = 'available'
     ORDER BY id LIMIT ${quantity}
     FOR UPDATE SKIP LOCKED`;
  return rows.map((r) => String(r.id));
}

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

async function openMessages(tx: Tx, where: { paymentId?: string; depositId?: string }): Promise<InvoiceMessage[]> {
  const rows = where.paymentId
    ? await tx<{ id: string; chat_id: string; message_id: string; kind: string }[]>`
        SELECT id, chat_id, message_id, kind FROM invoice_messages WHERE payment_id = ${where.paymentId} AND removed_at IS NULL ORDER BY id`
    : await tx<{ id: string; chat_id: string; message_id: string; kind: string }[]>`
        SELECT id, chat_id, message_id, kind FROM invoice_messages WHERE deposit_id = ${where.depositId!} AND removed_at IS NULL ORDER BY id`;
  return rows.map((r) => ({ id: String(r.id), chatId: n(r.chat_id), messageId: n(r.message_id), kind: r.kind, forDeposit: !where.paymentId }));
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
export async function listUserOrders(sql: Sql, userId: string, limit = 5): Promise<{ id: string; publicId: string; status: string; total: number; createdAt: Date }[]> {
  const rows = await sql<{ id: string; public_id: string; status: string; total_amount: string; created_at: Date }[]>`
    SELECT id, public_id, status, total_amount, created_at FROM orders WHERE user_id = ${userId} ORDER BY created_at DESC, id DESC LIMIT ${limit}`;
  return rows.map((r) => ({ id: String(r.id), publicId: r.public_id, status: r.status, total: n(r.total_amount), createdAt: r.created_at }));
}

export async function findUserOrder(sql: Sql, userId: string, orderId: string): Promise<{ id: string; status: string } | undefined> {
  if (!/^\d{1,18}$/.test(orderId)) return undefined;
  const [row] = await sql<{ id: string; status: string }[]>`SELECT id, status FROM orders WHERE id = ${orderId} AND user_id = ${userId}`;
  return row ? { id: String(row.id), status: row.status } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Balance (saldo)

export type BalancePayResult =
  | { ok: true; orderId: string; publicId: string; total: number; balance: number }
  | { ok: false; reason: 'unavailable' | 'out_of_stock'; available: number }
  | { ok: false; reason: 'insufficient'; balance: number; total: number };

/** Pays an order from the balance in one transaction: stock, order, ledger and balance together. */
export async function payWithBalance(
  sql: Sql,
  req: { userId: string; productId: number; quantity: number; publicId: string },
): Promise<BalancePayResult> {
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
    const [after] = await tx<{ balance: string }[]>`UPDATE users SET balance = balance - ${total}, updated_at = now() WHERE id = ${req.userId} RETURNING balance`;
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

// ---------------------------------------------------------------------------------------------
// An invoice whose QR photo could not be sent

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
  | { outcome: 'deposit_credited'; gatewayOrderId: string; depositId: string; chatId: number; amount: number; balance: number; late: boolean; messages: InvoiceMessage[] };

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
    return { outcome: 'mismatch', gatewayOrderId, detail: `gateway reports order ${t.orderId} amount ${t.amount}, expected ${gatewayOrderId} amount ${amount}` };
  }
  if (t.status !== 'completed') return { outcome: 'not_paid', gatewayOrderId, gatewayStatus: t.status };
  return inv.kind === 'order' ? applyOrderPayment(sql, inv.id, gatewayOrderId) : applyDeposit(sql, inv.id, gatewayOrderId);
}

async function applyOrderPayment(sql: Sql, paymentId: string, gatewayOrderId: string): Promise<SettleOutcome> {
  return (await sql.begin(async (tx) => {
    const [p] = await tx<{ status: string; order_id: string; amount: string; total_payment: string; user_id: string; telegram_id: string; total_amount: string }[]>`
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
    return { outcome: 'deposit_credited', gatewayOrderId, depositId, chatId: n(d.telegram_id), amount, balance: n(u!.balance), late: d.status !== 'pending', messages };
  })) as SettleOutcome;
}

// ---------------------------------------------------------------------------------------------
// Expiry

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
export async function expireDueInvoices(
  deps: { sql: Sql; gateway: PaymentGateway | undefined },
  opts: { now: Date; limit?: number },
): Promise<ExpiryResult> {
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

async function releaseStock(tx: Tx, orderId: string): Promise<number> {
  const rows = await tx`
    UPDATE product_stock_items SET status = 'available', order_id = NULL, reserved_at = NULL
     WHERE order_id = ${orderId} AND status = 'reserved' RETURNING id`;
  return rows.length;
}

async function expireOrderInvoice(sql: Sql, gatewayOrderId: string, now: Date): Promise<ExpiredInvoice | undefined> {
  return (await sql.begin(async (tx) => {
    const [p] = await tx<{ id: string; status: string; expires_at: Date; order_id: string; total_payment: string; telegram_id: string }[]>`
      SELECT p.id, p.status, p.expires_at, p.order_id, p.total_payment, u.telegram_id
        FROM payments p JOIN orders o ON o.id = p.order_id JOIN users u ON u.id = o.user_id
       WHERE p.gateway_order_id = ${gatewayOrderId}
       FOR UPDATE OF p, o`;
    if (!p || p.status !== 'pending' || p.expires_at > now) return undefined;
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
    if (!o || o.status !== 'pending' || o.expires_at > now) return undefined;
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
    if (!d || d.status !== 'pending' || d.expires_at > now) return undefined;
    await tx`UPDATE deposits SET status = 'expired', updated_at = now() WHERE id = ${d.id}`;
    const messages = await openMessages(tx as unknown as Sql, { depositId: String(d.id) });
    return { kind: 'deposit', publicId: gatewayOrderId, chatId: n(d.telegram_id), amount: n(d.total_payment), released: 0, messages };
  })) as ExpiredInvoice | undefined;
}

// ---------------------------------------------------------------------------------------------
// SNK (terms) submissions

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
