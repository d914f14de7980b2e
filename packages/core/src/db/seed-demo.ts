import crypto from 'node:crypto';
import type { FieldCipher } from '../crypto/field-encryption.js';
import type { Sql } from './connection.js';
import { SNK_CONTENT_CONTEXT, STOCK_SECRET_CONTEXT } from '../shop/field-contexts.js';

export const DEMO_PRODUCTS = [
  { code: 'NFX1', name: 'Netflix Premium 1 Bulan', price: 35_000, description: 'Akun sharing 1 profil, garansi 30 hari.', terms: true },
  { code: 'SPT1', name: 'Spotify Premium 1 Bulan', price: 25_000, description: 'Invite family, akun baru.', terms: false },
  { code: 'CNV1', name: 'Canva Pro 1 Bulan', price: 15_000, description: 'Undangan tim Canva Pro.', terms: false },
  { code: 'YTP1', name: 'YouTube Premium 1 Bulan', price: 20_000, description: 'Family plan, email pembeli.', terms: false },
  { code: 'ML86', name: 'Mobile Legends 86 Diamond', price: 22_000, description: 'Kode voucher, tukar di situs resmi.', terms: false },
  { code: 'GPT1', name: 'ChatGPT Plus 1 Bulan', price: 90_000, description: 'Akun private, wajib isi SNK.', terms: true },
] as const;

export interface SeedOptions {
  cipher: FieldCipher;
  /** Multiplies buyers, orders and deposits (1 = a small shop). */
  scale?: number;
  stockPerProduct?: number;
  now?: Date;
  /** Deterministic data for tests. */
  seed?: number;
}

export interface SeedResult {
  products: number;
  users: number;
  stockItems: number;
  orders: number;
  deposits: number;
  snkSubmissions: number;
}

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

async function insertBatched(sql: Sql, table: string, rows: Record<string, unknown>[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    const batch = rows.slice(i, i + 500);
    await sql`INSERT INTO ${sql(table)} ${sql(batch as Record<string, never>[])}`;
  }
}

/**
 * Loads the sample shop used by `botctl demo` and the tests into a migrated, empty database:
 * products with terms, encrypted stock, buyers, orders in every state with their invoices,
 * deposits with ledger entries, encrypted SNK submissions and an audit trail.
 */
export async function seedDemo(sql: Sql, options: SeedOptions): Promise<SeedResult> {
  const scale = Math.max(1, Math.floor(options.scale ?? 1));
  const stockPerProduct = options.stockPerProduct ?? 25;
  const now = options.now ?? new Date();
  const rand = rng(options.seed ?? 42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const ago = (minutes: number) => new Date(now.getTime() - minutes * 60_000);
  const { cipher } = options;

  return sql.begin(async (tx) => {
    const [{ n } = { n: 0 }] = await tx<{ n: number }[]>`SELECT count(*)::int AS n FROM products`;
    if (n > 0) throw new Error('the database already has products; seed-demo only fills an empty shop');

    const products = await tx<{ id: number; code: string; price: string }[]>`
      INSERT INTO products ${tx(DEMO_PRODUCTS.map((p, i) => ({ code: p.code, name: p.name, description: p.description, price: p.price, sort_order: i })))}
      RETURNING id, code, price`;
    const terms = DEMO_PRODUCTS.flatMap((p, i) =>
      p.terms
        ? [
            {
              product_id: products[i]!.id,
              content: 'Dilarang mengganti email/password. Kirim bukti login (teks atau foto) dalam 24 jam.',
              requires_submission: true,
            },
          ]
        : [],
    );
    if (terms.length) await tx`INSERT INTO product_terms ${tx(terms)}`;

    const names = ['Budi', 'Sari', 'Andi', 'Dewi', 'Rina', 'Agus', 'Putri', 'Joko', 'Wulan', 'Eko'];
    const userRows = Array.from({ length: 20 * scale }, (_, i) => ({
      telegram_id: 700_000_000 + i,
      username: `pembeli_${i}`,
      first_name: `${pick(names)} ${i}`,
      created_at: ago(60 * 24 * 30 - i),
    }));
    await insertBatched(tx as unknown as Sql, 'users', userRows);
    const users = await tx<{ id: string }[]>`SELECT id FROM users ORDER BY id`;

    const stockRows: Record<string, unknown>[] = [];
    for (const p of products) {
      for (let i = 0; i < stockPerProduct; i++) {
        const secret = `${p.code.toLowerCase()}${i}@akun.example:${crypto.randomBytes(6).toString('base64url')}`;
        stockRows.push({ product_id: p.id, secret_enc: cipher.encrypt(secret, STOCK_SECRET_CONTEXT) });
      }
    }
    await insertBatched(tx as unknown as Sql, 'product_stock_items', stockRows);

    let orders = 0;
    let snk = 0;
    const statuses = ['delivered', 'delivered', 'delivered', 'expired', 'pending', 'failed'] as const;
    for (let i = 0; i < 40 * scale; i++) {
      const user = pick(users);
      const pi = Math.floor(rand() * products.length);
      const product = products[pi]!;
      const status = pick(statuses);
      const qty = 1 + Math.floor(rand() * 2);
      const total = Number(product.price) * qty;
      const created = ago(Math.floor(rand() * 60 * 24 * 20) + 30);
      const publicId = `ORD-${created.getTime().toString(36).toUpperCase()}-${i}`;
      const [order] = await tx<{ id: string }[]>`
        INSERT INTO orders (public_id, user_id, status, total_amount, created_at, expires_at, paid_at, delivered_at)
        VALUES (${publicId}, ${user.id}, ${status}, ${total}, ${created}, ${new Date(created.getTime() + 15 * 60_000)},
                ${status === 'delivered' ? new Date(created.getTime() + 120_000) : null},
                ${status === 'delivered' ? new Date(created.getTime() + 125_000) : null})
        RETURNING id`;
      await tx`INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES (${order!.id}, ${product.id}, ${qty}, ${product.price})`;
      const payStatus = status === 'delivered' ? 'completed' : status === 'pending' ? 'pending' : status === 'failed' ? 'failed' : 'expired';
      const [payment] = await tx<{ id: string }[]>`
        INSERT INTO payments (order_id, gateway_order_id, amount, total_payment, qris_string, status, expires_at, paid_at, created_at)
        VALUES (${order!.id}, ${publicId}, ${total}, ${total + 310}, ${`00020101021226610016ID.CO.QRIS.WWW${publicId}5204541153033605802ID`},
                ${payStatus}, ${status === 'pending' ? new Date(now.getTime() + 10 * 60_000) : new Date(created.getTime() + 15 * 60_000)},
                ${status === 'delivered' ? new Date(created.getTime() + 120_000) : null}, ${created})
        RETURNING id`;
      if (status === 'pending') {
        // A pending order holds its stock until the invoice is paid or expires.
        await tx`
          UPDATE product_stock_items SET status = 'reserved', order_id = ${order!.id}, reserved_at = ${created}
          WHERE id IN (SELECT id FROM product_stock_items WHERE product_id = ${product.id} AND status = 'available' ORDER BY id LIMIT ${qty})`;
        await tx`INSERT INTO invoice_messages (payment_id, chat_id, message_id) VALUES (${payment!.id}, ${700_000_000 + i}, ${1000 + i})`;
      }
      if (status === 'delivered') {
        await tx`
          UPDATE product_stock_items SET status = 'sold', order_id = ${order!.id}, sold_at = ${created}
          WHERE id IN (SELECT id FROM product_stock_items WHERE product_id = ${product.id} AND status = 'available' ORDER BY id LIMIT ${qty})`;
        if (DEMO_PRODUCTS[pi]!.terms) {
          await tx`
            INSERT INTO product_term_submissions (product_id, order_id, user_id, kind, content_enc, created_at)
            VALUES (${product.id}, ${order!.id}, ${user.id}, 'text',
                    ${cipher.encrypt(`Sudah login, profil ${i}. Terima kasih.`, SNK_CONTENT_CONTEXT)}, ${created})`;
          snk++;
        }
      }
      orders++;
    }

    let deposits = 0;
    for (let i = 0; i < 10 * scale; i++) {
      const user = pick(users);
      const amount = pick([10_000, 25_000, 50_000, 100_000]);
      const completed = rand() < 0.7;
      const created = ago(Math.floor(rand() * 60 * 24 * 20) + 30);
      const [dep] = await tx<{ id: string }[]>`
        INSERT INTO deposits (user_id, gateway_order_id, amount, total_payment, status, expires_at, paid_at, created_at)
        VALUES (${user.id}, ${`DEP-${created.getTime().toString(36).toUpperCase()}-${i}`}, ${amount}, ${amount + 310},
                ${completed ? 'completed' : 'expired'}, ${new Date(created.getTime() + 15 * 60_000)},
                ${completed ? new Date(created.getTime() + 60_000) : null}, ${created})
        RETURNING id`;
      if (completed) {
        await tx`INSERT INTO balance_ledger (user_id, delta, reason, deposit_id, created_at) VALUES (${user.id}, ${amount}, 'deposit', ${dep!.id}, ${created})`;
        await tx`UPDATE users SET balance = balance + ${amount} WHERE id = ${user.id}`;
      }
      deposits++;
    }

    await tx`
      INSERT INTO audit_log (actor, action, details)
      VALUES ('seed-demo', 'seed', ${tx.json({ scale, products: products.length })})`;

    return {
      products: products.length,
      users: users.length,
      stockItems: stockRows.length,
      orders,
      deposits,
      snkSubmissions: snk,
    };
  }) as Promise<SeedResult>;
}
