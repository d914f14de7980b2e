import type { FieldCipher } from '../crypto/field-encryption.js';
import type { Sql } from '../db/connection.js';
import { NotFoundError } from '../errors.js';
import { STOCK_SECRET_CONTEXT } from './field-contexts.js';
import { n } from './sql-helpers.js';

// The owner's side of the catalog: products as the host imports and exports them, and stock
// items added encrypted (as delivery reads them), never twice for a product.

/** A product as `botctl catalog import/export` reads and writes it. */
export interface CatalogEntry {
  code: string;
  name: string;
  price: number;
  description: string;
  category: string;
  /** The SNK terms text; '' for none. */
  terms: string;
  active: boolean;
}

export const PRODUCT_CODE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

/** Every product, active or not, in the catalog's order. */
export async function exportCatalog(sql: Sql): Promise<CatalogEntry[]> {
  const rows = await sql<{ code: string; name: string; price: string; description: string; category: string; terms: string | null; is_active: boolean }[]>`
    SELECT p.code, p.name, p.price, p.description, p.category, t.content AS terms, p.is_active
      FROM products p LEFT JOIN product_terms t ON t.product_id = p.id
     ORDER BY p.sort_order, p.id`;
  return rows.map((r) => ({
    code: r.code,
    name: r.name,
    price: n(r.price),
    description: r.description,
    category: r.category,
    terms: r.terms ?? '',
    active: r.is_active,
  }));
}

export type CatalogChange =
  | { action: 'create'; entry: CatalogEntry }
  | { action: 'update'; entry: CatalogEntry; fields: (keyof CatalogEntry)[] }
  | { action: 'unchanged'; entry: CatalogEntry };

/** What importing `entries` would change, product by product (matched on the code). */
export async function planCatalog(sql: Sql, entries: CatalogEntry[]): Promise<CatalogChange[]> {
  const existing = new Map((await exportCatalog(sql)).map((e) => [e.code, e]));
  return entries.map((entry) => {
    const before = existing.get(entry.code);
    if (!before) return { action: 'create', entry };
    const fields = (Object.keys(entry) as (keyof CatalogEntry)[]).filter((k) => k !== 'code' && before[k] !== entry[k]);
    return fields.length ? { action: 'update', entry, fields } : { action: 'unchanged', entry };
  });
}

/**
 * Applies a catalog in one transaction: products created or updated on their code (new ones
 * after the existing in the catalog's order), SNK terms set or removed. Products not in it are
 * left as they are.
 */
export async function applyCatalog(sql: Sql, entries: CatalogEntry[]): Promise<CatalogChange[]> {
  return sql.begin(async (tx) => {
    // One import at a time: the plan and the writes see the same catalog.
    await tx`LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE`;
    const changes = await planCatalog(tx as unknown as Sql, entries);
    const [{ max } = { max: 0 }] = await tx<{ max: number }[]>`SELECT coalesce(max(sort_order), 0) AS max FROM products`;
    let order = Number(max);
    for (const c of changes) {
      if (c.action === 'unchanged') continue;
      const e = c.entry;
      const [row] = await tx<{ id: number }[]>`
        INSERT INTO products (code, name, description, price, category, is_active, sort_order)
        VALUES (${e.code}, ${e.name}, ${e.description}, ${e.price}, ${e.category}, ${e.active}, ${++order})
        ON CONFLICT (code) DO UPDATE
           SET name = EXCLUDED.name, description = EXCLUDED.description, price = EXCLUDED.price,
               category = EXCLUDED.category, is_active = EXCLUDED.is_active
        RETURNING id`;
      if (e.terms) {
        await tx`
          INSERT INTO product_terms (product_id, content) VALUES (${row!.id}, ${e.terms})
          ON CONFLICT (product_id) DO UPDATE SET content = EXCLUDED.content`;
      } else {
        await tx`DELETE FROM product_terms WHERE product_id = ${row!.id}`;
      }
    }
    return changes;
  });
}

export interface StockAddResult {
  code: string;
  added: number;
  /** Lines that repeat an earlier line of the same file. */
  duplicates_in_file: number;
  /** Lines already stocked for this product (available, reserved or sold). */
  already_stocked: number;
  available: number;
}

/** One stock item per line; blank lines are skipped, nothing else is changed (a secret is exact). */
export function stockLines(text: string): string[] {
  return text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '');
}

async function productId(sql: Sql, code: string, lock: boolean): Promise<number> {
  const [p] = lock
    ? await sql<{ id: number }[]>`SELECT id FROM products WHERE code = ${code} FOR UPDATE`
    : await sql<{ id: number }[]>`SELECT id FROM products WHERE code = ${code}`;
  if (!p)
    throw new NotFoundError(`no product with code "${code}"`, { hint: 'see the codes with `botctl catalog export`, or add it with `botctl catalog import`' });
  return p.id;
}

/**
 * Adds stock items to a product, encrypted as delivery reads them, in one transaction. A secret
 * already stocked for the product (sold too: a voucher is never sold twice) or repeated in
 * `lines` is skipped and counted. Digests under an older key (or none, stock added before) are
 * recomputed first, so the check holds across key rotations.
 */
export async function addStock(sql: Sql, cipher: FieldCipher, code: string, lines: string[]): Promise<StockAddResult> {
  return sql.begin(async (tx) => {
    const id = await productId(tx as unknown as Sql, code, true);
    const stale = await tx<{ id: string; secret_enc: string }[]>`
      SELECT id, secret_enc FROM product_stock_items
       WHERE product_id = ${id} AND (secret_digest IS NULL OR secret_digest NOT LIKE ${`${cipher.currentKeyId}.%`})`;
    for (const s of stale) {
      const digest = cipher.digest(cipher.decryptText(s.secret_enc, STOCK_SECRET_CONTEXT), STOCK_SECRET_CONTEXT);
      // Two old rows with one secret: the second keeps no digest (it is already a duplicate).
      await tx`
        UPDATE product_stock_items SET secret_digest = ${digest}
         WHERE id = ${s.id} AND NOT EXISTS (SELECT 1 FROM product_stock_items WHERE product_id = ${id} AND secret_digest = ${digest})`;
    }
    const seen = new Set<string>();
    let duplicates = 0;
    let already = 0;
    let added = 0;
    for (const line of lines) {
      if (seen.has(line)) {
        duplicates++;
        continue;
      }
      seen.add(line);
      const rows = await tx`
        INSERT INTO product_stock_items (product_id, secret_enc, secret_digest)
        VALUES (${id}, ${cipher.encrypt(line, STOCK_SECRET_CONTEXT)}, ${cipher.digest(line, STOCK_SECRET_CONTEXT)})
        ON CONFLICT (product_id, secret_digest) WHERE secret_digest IS NOT NULL DO NOTHING
        RETURNING id`;
      if (rows.length) added++;
      else already++;
    }
    const [c] = await tx<{ n: string }[]>`SELECT count(*) AS n FROM product_stock_items WHERE product_id = ${id} AND status = 'available'`;
    return { code, added, duplicates_in_file: duplicates, already_stocked: already, available: n(c?.n ?? '0') };
  });
}

export interface StockCount {
  code: string;
  name: string;
  active: boolean;
  available: number;
  reserved: number;
  sold: number;
}

/** Stock per product (one product with `code`). */
export async function stockCounts(sql: Sql, code?: string): Promise<StockCount[]> {
  if (code) await productId(sql, code, false);
  const rows = await sql<{ code: string; name: string; is_active: boolean; available: string; reserved: string; sold: string }[]>`
    SELECT p.code, p.name, p.is_active,
           count(*) FILTER (WHERE s.status = 'available') AS available,
           count(*) FILTER (WHERE s.status = 'reserved') AS reserved,
           count(*) FILTER (WHERE s.status = 'sold') AS sold
      FROM products p LEFT JOIN product_stock_items s ON s.product_id = p.id
     WHERE ${code ?? null}::text IS NULL OR p.code = ${code ?? null}
     GROUP BY p.id ORDER BY p.sort_order, p.id`;
  return rows.map((r) => ({ code: r.code, name: r.name, active: r.is_active, available: n(r.available), reserved: n(r.reserved), sold: n(r.sold) }));
}

export interface StockItem {
  id: string;
  status: 'available' | 'reserved' | 'sold';
  created_at: string;
  /** Only when asked for (`--reveal`). */
  secret?: string;
}

/** A product's stock items, oldest first; the secrets decrypted only with `reveal`. */
export async function listStockItems(sql: Sql, cipher: FieldCipher | undefined, code: string, opts: { reveal: boolean }): Promise<StockItem[]> {
  const id = await productId(sql, code, false);
  const rows = await sql<{ id: string; status: StockItem['status']; created_at: Date; secret_enc: string }[]>`
    SELECT id, status, created_at, secret_enc FROM product_stock_items WHERE product_id = ${id} ORDER BY id`;
  return rows.map((r) => ({
    id: String(r.id),
    status: r.status,
    created_at: r.created_at.toISOString(),
    ...(opts.reveal && cipher ? { secret: cipher.decryptText(r.secret_enc, STOCK_SECRET_CONTEXT) } : {}),
  }));
}
