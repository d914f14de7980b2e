import { createTenant, type EphemeralCluster, type FakeGateway, makeTempDir, removeDir, startEphemeralCluster, startFakeGateway } from '@botctl/test-utils';
import {
  attachInvoice,
  createSql,
  expireDueInvoices,
  newPublicId,
  PakasirGateway,
  reserveOrder,
  Secret,
  settleInvoice,
  type Sql,
  upsertUser,
} from '@botctl/core';

let cluster: EphemeralCluster;
let work: string;
let gw: FakeGateway;
let sql: Sql;
let gateway: PakasirGateway;
let tenantUrl: Secret;

beforeAll(async () => {
  work = makeTempDir('botctl-shop-');
  cluster = await startEphemeralCluster({ parentDir: work });
  gw = await startFakeGateway();
  const t = await createTenant({ cluster, parentDir: work });
  tenantUrl = t.databaseUrl;
  sql = createSql(t.databaseUrl, { max: 8 });
  gateway = new PakasirGateway({ baseUrl: gw.url, project: gw.project, apiKey: new Secret(gw.apiKey), timeoutMs: 5000 });
});

afterAll(async () => {
  await sql?.end({ timeout: 5 });
  await gw?.close();
  await cluster?.destroy();
  removeDir(work);
});

async function stockCounts(productId: number): Promise<Record<string, number>> {
  const rows = await sql<
    { status: string; n: string }[]
  >`SELECT status, count(*) AS n FROM product_stock_items WHERE product_id = ${productId} GROUP BY status`;
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** A pending QRIS order whose invoice is already past its deadline. */
async function dueOrder(productId: number, buyer: number, qty = 1): Promise<string> {
  const user = await upsertUser(sql, { id: buyer, first_name: 'B' });
  const publicId = newPublicId('INV', new Date());
  const r = await reserveOrder(sql, { userId: user.id, productId, quantity: qty, expiresAt: new Date(Date.now() + 60_000), publicId });
  if (!r.ok) throw new Error(`reserve failed: ${r.reason}`);
  const inv = await gateway.createQris({ orderId: publicId, amount: r.total });
  await attachInvoice(sql, r.orderId, { ...inv, expiresAt: new Date(Date.now() - 1000) });
  return publicId;
}

describe('payments against the expiry job (real PostgreSQL, Pakasir-compatible fake gateway)', () => {
  it('grants a payment that arrives while the expiry job runs exactly once, and never expires it', async () => {
    const [p] = await sql<{ id: number }[]>`SELECT id FROM products WHERE code = 'YTP1'`;
    await sql`INSERT INTO product_stock_items (product_id, secret_enc) SELECT ${p!.id}, 'v1.00000000.opaque' FROM generate_series(1, 30)`;
    const before = await stockCounts(p!.id);
    const total = Object.values(before).reduce((a, b) => a + b, 0);
    for (let round = 0; round < 12; round++) {
      const id = await dueOrder(p!.id, 800_000 + round, 1 + (round % 2));
      gw.pay(id);
      // The webhook and the expiry job race for the same due invoice.
      const [webhook, job] = await Promise.all([settleInvoice({ sql, gateway }, id), expireDueInvoices({ sql, gateway }, { now: new Date() })]);
      const granted = [webhook.outcome === 'order_paid', ...job.settled.map((s) => s.outcome === 'order_paid')].filter(Boolean);
      expect(granted).toHaveLength(1);
      expect(job.payments.map((e) => e.publicId)).not.toContain(id);
      const [o] = await sql<{ status: string; pay: string; sold: string }[]>`
        SELECT o.status, p.status AS pay,
               (SELECT count(*) FROM product_stock_items s WHERE s.order_id = o.id AND s.status = 'sold') AS sold
          FROM orders o JOIN payments p ON p.order_id = o.id WHERE o.public_id = ${id}`;
      expect(o).toEqual({ status: 'paid', pay: 'completed', sold: String(1 + (round % 2)) });
    }
    const after = await stockCounts(p!.id);
    expect(Object.values(after).reduce((a, b) => a + b, 0)).toBe(total);
    expect(after.reserved ?? 0).toBe(before.reserved ?? 0);
  });

  it('expires an unpaid invoice once even when two instances run the job together', async () => {
    const [p] = await sql<{ id: number }[]>`SELECT id FROM products WHERE code = 'CNV1'`;
    const before = await stockCounts(p!.id);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await dueOrder(p!.id, 810_000 + i, 2));
    // Two processes: two pools, each with its own connections.
    const other = createSql(tenantUrl, { max: 2 });
    let runs;
    try {
      runs = await Promise.all([sql, other, sql, other].map((pool) => expireDueInvoices({ sql: pool, gateway }, { now: new Date() })));
    } finally {
      await other.end({ timeout: 5 });
    }
    const expired = runs.flatMap((r) => r.payments.map((e) => e.publicId)).filter((x) => ids.includes(x));
    expect(expired.sort()).toEqual([...ids].sort());
    expect(runs.filter((r) => r.ran).length).toBeGreaterThanOrEqual(1);
    expect(
      runs
        .flatMap((r) => r.payments)
        .filter((e) => ids.includes(e.publicId))
        .reduce((a, e) => a + e.released, 0),
    ).toBe(10);
    expect(await stockCounts(p!.id)).toEqual(before);
  });

  it('honours a payment made after expiry: stock taken again, or the money credited to the balance when it is gone', async () => {
    const [p] = await sql<{ id: number }[]>`SELECT id FROM products WHERE code = 'GPT1'`;
    const late = await dueOrder(p!.id, 820_001, 1);
    await expireDueInvoices({ sql, gateway: undefined }, { now: new Date() });
    gw.pay(late);
    expect((await settleInvoice({ sql, gateway }, late)).outcome).toBe('order_paid');

    // Sold out meanwhile: the buyer's money is not lost.
    const gone = await dueOrder(p!.id, 820_002, 1);
    await expireDueInvoices({ sql, gateway: undefined }, { now: new Date() });
    await sql`UPDATE product_stock_items SET status = 'sold', sold_at = now(), order_id = (SELECT id FROM orders WHERE public_id = ${late}) WHERE product_id = ${p!.id} AND status = 'available'`;
    gw.pay(gone);
    const s = await settleInvoice({ sql, gateway }, gone);
    expect(s.outcome).toBe('order_refunded');
    // All the buyer paid: the price and the gateway's fee.
    const [paid] = await sql<{ total: string }[]>`SELECT total_payment AS total FROM payments WHERE gateway_order_id = ${gone}`;
    expect(Number(paid!.total)).toBeGreaterThan(90_000);
    expect(s).toMatchObject({ amount: Number(paid!.total), price: 90_000 });
    const [u] = await sql<{ balance: string }[]>`SELECT balance FROM users WHERE telegram_id = 820002`;
    expect(Number(u!.balance)).toBe(Number(paid!.total));
    expect((await settleInvoice({ sql, gateway }, gone)).outcome).toBe('already_settled');
    const [again] = await sql<{ balance: string }[]>`SELECT balance FROM users WHERE telegram_id = 820002`;
    expect(Number(again!.balance)).toBe(Number(paid!.total));
  });
});
