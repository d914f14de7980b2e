import type { Sql } from '../db/connection.js';
import { n } from './sql-helpers.js';

// The catalog: products with their live stock.

export interface CatalogProduct {
  id: number;
  code: string;
  name: string;
  description: string;
  price: number;
  stock: number;
  terms: string | undefined;
}

export async function listProducts(
  sql: Sql,
  page: number,
  perPage: number,
): Promise<{ products: CatalogProduct[]; total: number; pages: number; page: number }> {
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
