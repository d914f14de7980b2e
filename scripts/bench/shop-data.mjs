// Builds a shop database of roughly the requested size with server-side generate_series:
// buyers, products, encrypted-looking stock secrets, orders with items and QRIS invoices,
// deposits with ledger rows, SNK submissions and an audit trail with JSON details.
// Column contents mix compressible text (names, QRIS prefixes, JSON keys) and random
// base64 (ciphertexts), like a real shop.

const rand64 = (bytes) => `encode(decode(${Array.from({ length: Math.ceil(bytes / 16) }, () => 'md5(random()::text)').join(' || ')}, 'hex'), 'base64')`;

export async function fillShop(sql, { targetBytes, log = () => {} }) {
  const size = async () => Number((await sql`SELECT pg_database_size(current_database()) AS s`)[0].s);
  await sql`INSERT INTO products (code, name, description, price, sort_order)
            SELECT 'P' || g, 'Produk digital ' || g, 'Deskripsi produk ' || g || ', garansi 30 hari.', 10000 + g * 1000, g
            FROM generate_series(1, 50) g`;
  await sql`INSERT INTO product_terms (product_id, content)
            SELECT id, 'Dilarang mengganti email/password. Kirim bukti login dalam 24 jam.' FROM products WHERE id % 5 = 0`;
  let round = 0;
  // A round of 100,000 buyers (with their orders, payments, stock and logs) is about 156 MiB: a
  // smaller target gets smaller rounds, so `--size-mb 10` builds about 10 MiB, not 156.
  const batch = Math.max(1_000, Math.min(100_000, Math.round(targetBytes / 1_600)));
  while ((await size()) < targetBytes) {
    const base = round * batch;
    await sql.begin(async (tx) => {
      await tx.unsafe(`
        INSERT INTO users (telegram_id, username, first_name, balance, created_at)
        SELECT 800000000 + ${base} + g, 'pembeli_' || (${base} + g), 'Pembeli ' || (${base} + g), (g % 50) * 1000,
               now() - ((${base} + g) || ' minutes')::interval
        FROM generate_series(1, ${batch}) g`);
      // Balances come from the ledger, as in the shop (the drill checks it).
      await tx.unsafe(`
        INSERT INTO balance_ledger (user_id, delta, reason, created_at)
        SELECT id, balance, 'adjustment', created_at FROM users
        WHERE balance > 0 AND telegram_id > 800000000 + ${base} AND telegram_id <= 800000000 + ${base} + ${batch}`);
      await tx.unsafe(`
        INSERT INTO orders (public_id, user_id, status, total_amount, payment_method, created_at, expires_at, paid_at, delivered_at)
        SELECT 'ORD-' || (${base} + g), u.id,
               (ARRAY['delivered','delivered','delivered','expired','failed'])[1 + g % 5],
               15000 + (g % 40) * 2500, CASE WHEN g % 7 = 0 THEN 'balance' ELSE 'qris' END,
               now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval + interval '15 minutes',
               now() - (g || ' seconds')::interval + interval '2 minutes', now() - (g || ' seconds')::interval + interval '2 minutes'
        FROM generate_series(1, ${batch}) g JOIN users u ON u.telegram_id = 800000000 + ${base} + g`);
      await tx.unsafe(`
        INSERT INTO order_items (order_id, product_id, quantity, unit_price)
        SELECT o.id, 1 + o.id % 50, 1 + o.id % 3, 15000 FROM orders o WHERE o.public_id LIKE 'ORD-%' AND o.id > (SELECT coalesce(max(order_id), 0) FROM order_items)`);
      await tx.unsafe(`
        INSERT INTO payments (order_id, gateway_order_id, amount, total_payment, qris_string, status, expires_at, paid_at, created_at)
        SELECT o.id, o.public_id, o.total_amount, o.total_amount + 310,
               '00020101021226610016ID.CO.QRIS.WWW0118936009140000000000215' || o.public_id || '5204541153033605802ID5909TOKO DEMO6007JAKARTA6304' || substr(md5(o.public_id), 1, 4),
               CASE o.status WHEN 'delivered' THEN 'completed' WHEN 'failed' THEN 'failed' ELSE 'expired' END,
               o.expires_at, o.paid_at, o.created_at
        FROM orders o WHERE NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id)`);
      await tx.unsafe(`
        INSERT INTO product_stock_items (product_id, secret_enc, status, created_at)
        SELECT 1 + g % 50, 'v1.5f3a9c1e.' || ${rand64(48)}, 'available', now()
        FROM generate_series(1, ${batch}) g`);
      await tx.unsafe(`
        INSERT INTO audit_log (at, actor, action, details)
        SELECT now() - (g || ' seconds')::interval, 'bot', (ARRAY['order.created','payment.completed','stock.delivered','deposit.completed'])[1 + g % 4],
               jsonb_build_object('order', 'ORD-' || (${base} + g), 'user', 800000000 + ${base} + g, 'amount', 15000 + (g % 40) * 2500,
                                  'ip', '10.0.' || (g % 250) || '.' || (g % 200), 'note', 'Pembayaran QRIS via Pakasir diterima')
        FROM generate_series(1, ${batch}) g`);
      await tx.unsafe(`
        INSERT INTO product_term_submissions (product_id, order_id, user_id, kind, content_enc, created_at)
        SELECT 5, o.id, o.user_id, 'text', 'v1.5f3a9c1e.' || ${rand64(96)}, o.created_at
        FROM orders o WHERE o.public_id LIKE 'ORD-%' AND o.id % 10 = 0 AND o.id > (SELECT coalesce(max(order_id), 0) FROM product_term_submissions)`);
    });
    round++;
    log(`  round ${round}: ${((await size()) / 1048576).toFixed(0)} MiB`);
  }
  await sql`VACUUM ANALYZE`;
  return size();
}
