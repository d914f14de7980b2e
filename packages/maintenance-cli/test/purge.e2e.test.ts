import {
  attachInvoice,
  createSql,
  EXPIRY_LOCK,
  newPublicId,
  PakasirGateway,
  recordInvoiceMessage,
  reserveOrder,
  Secret,
  type Sql,
  upsertUser,
} from '@botctl/core';
import {
  FAKE_OWNER_TOKEN,
  FAKE_SHOP_TOKEN,
  type FakeBotApi,
  type FakeGateway,
  startFakeBotApi,
  startFakeGateway,
  type Tenant,
  maintenanceLog,
  fakeTelegramEnv,
} from '@botctl/test-utils';
import { botctl, useCluster } from './harness.js';

let api: FakeBotApi;
let gw: FakeGateway;
let t: Tenant;
let sql: Sql;

const suite = useCluster('botctl-purge-');

beforeAll(async () => {
  api = await startFakeBotApi({ tokens: [FAKE_SHOP_TOKEN, FAKE_OWNER_TOKEN] });
  gw = await startFakeGateway();
  t = await suite.tenant({
    extraEnv: {
      ...fakeTelegramEnv(api, '9001'),
      PAKASIR_BASE_URL: gw.url,
      PAKASIR_PROJECT_SLUG: gw.project,
      PAKASIR_API_KEY: gw.apiKey,
    },
  });
  sql = createSql(t.databaseUrl, { max: 4 });
});

afterAll(async () => {
  await sql?.end({ timeout: 5 });
  await gw?.close();
  await api?.close();
});

const purgeRun = (...args: string[]) => botctl(t, ['--no-alert', ...args]);

describe('botctl purge (the bot jobs, run once from the host)', () => {
  it('purge snk: counts with --dry-run, deletes only submissions older than the retention, logs the plan line', async () => {
    // Two submissions 40 days old, one 10 days old, the rest from today.
    await sql`UPDATE product_term_submissions SET created_at = now()`;
    const [row] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM product_term_submissions`;
    const total = Number(row!.n);
    const ids = await sql<{ id: string }[]>`SELECT id FROM product_term_submissions ORDER BY id LIMIT 3`;
    expect(ids).toHaveLength(3);
    await sql`UPDATE product_term_submissions SET created_at = now() - interval '40 days' WHERE id IN ${sql([ids[0]!.id, ids[1]!.id])}`;
    await sql`UPDATE product_term_submissions SET created_at = now() - interval '10 days' WHERE id = ${ids[2]!.id}`;

    const dry = await purgeRun('--json', 'purge', 'snk', '--dry-run');
    expect(dry.exitCode).toBe(0);
    expect(JSON.parse(dry.stdout)).toEqual({ ok: true, dry_run: true, days: 30, would_delete: 2 });

    const real = await purgeRun('--json', 'purge', 'snk');
    expect(real.exitCode).toBe(0);
    expect(JSON.parse(real.stdout)).toMatchObject({ deleted: 2, days: 30 });
    const [after] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM product_term_submissions`;
    expect(Number(after!.n)).toBe(total - 2);
    expect(maintenanceLog(t)).toMatch(/\[INFO\] \[snk\] Purge 2 submission SNK lebih lama dari 30 hari/);

    const days = await purgeRun('--json', 'purge', 'snk', '--days', '7');
    expect(JSON.parse(days.stdout)).toMatchObject({ deleted: 1, days: 7 });

    const bad = await purgeRun('purge', 'snk', '--days', 'ten');
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/--days must be a whole number/);
  });

  it('purge payments: expires a due invoice (gateway asked first), releases stock, removes its chat message; a paid one is delivered instead', async () => {
    const gateway = new PakasirGateway({ baseUrl: gw.url, project: gw.project, apiKey: new Secret(gw.apiKey), timeoutMs: 5000 });
    const [p] = await sql<{ id: number }[]>`SELECT id FROM products WHERE code = 'CNV1'`;
    const due = async (buyer: number) => {
      const user = await upsertUser(sql, { id: buyer, first_name: 'B' });
      const publicId = newPublicId('INV', new Date());
      const r = await reserveOrder(sql, { userId: user.id, productId: p!.id, quantity: 2, expiresAt: new Date(Date.now() + 60_000), publicId });
      if (!r.ok) throw new Error(r.reason);
      const inv = await gateway.createQris({ orderId: publicId, amount: r.total });
      const paymentId = await attachInvoice(sql, r.orderId, { ...inv, expiresAt: new Date(Date.now() - 1000) });
      await recordInvoiceMessage(sql, { paymentId, chatId: buyer, messageId: 77, kind: 'qris' });
      return publicId;
    };
    const unpaid = await due(700_001);
    const paid = await due(700_002);
    gw.pay(paid);

    const run = await purgeRun('--json', 'purge', 'payments');
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out).toMatchObject({ ok: true, payments: { expired: 1, stock_released: 2, messages_removed: 1 }, settled: 1 });
    const status = async (id: string) => (await sql<{ status: string }[]>`SELECT status FROM orders WHERE public_id = ${id}`)[0]!.status;
    expect(await status(unpaid)).toBe('expired');
    expect(await status(paid)).toBe('delivered');
    expect(api.calls.some((c) => c.method === 'deleteMessage' && Number(c.params.chat_id) === 700_001)).toBe(true);
    expect(api.calls.some((c) => c.method === 'sendMessage' && Number(c.params.chat_id) === 700_002)).toBe(true);
    expect(maintenanceLog(t)).toMatch(/\[INFO\] \[expired_payments\] 1 invoice kedaluwarsa, 2 stok dikembalikan/);
    expect(maintenanceLog(t)).toMatch(/\[INFO\] \[expired_deposits\] 0 deposit kedaluwarsa/);
  });

  it('purge payments says LOCKED (4) while another instance runs the job, and changes nothing', async () => {
    const conn = await sql.reserve();
    try {
      await conn`SELECT pg_advisory_lock(${EXPIRY_LOCK})`;
      const run = await purgeRun('purge', 'payments');
      expect(run.exitCode).toBe(4);
      expect(run.stderr).toMatch(/running elsewhere/);
    } finally {
      await conn`SELECT pg_advisory_unlock(${EXPIRY_LOCK})`;
      conn.release();
    }
  });
});
