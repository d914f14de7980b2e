import type { Tx } from './sql-helpers.js';

// Stock rows taken and given back inside a caller's transaction. Internal to the shop: not
// exported from @botctl/core.

export async function takeStock(tx: Tx, productId: number, quantity: number): Promise<string[]> {
  const rows = await tx<{ id: string }[]>`
    SELECT id FROM product_stock_items
     WHERE product_id = ${productId} AND status = 'available'
     ORDER BY id LIMIT ${quantity}
     FOR UPDATE SKIP LOCKED`;
  return rows.map((r) => String(r.id));
}

export async function releaseStock(tx: Tx, orderId: string): Promise<number> {
  const rows = await tx`
    UPDATE product_stock_items SET status = 'available', order_id = NULL, reserved_at = NULL
     WHERE order_id = ${orderId} AND status = 'reserved' RETURNING id`;
  return rows.length;
}
