import fs from 'node:fs';
import path from 'node:path';
import {
  createSql,
  FieldCipher,
  newPublicId,
  payWithBalance,
  raiseFence,
  readHeartbeat,
  Secret,
  SNK_CONTENT_CONTEXT,
  type Sql,
  STOCK_SECRET_CONTEXT,
  upsertUser,
} from '@botctl/core';
import {
  type BotProcess,
  createTenant,
  type EphemeralCluster,
  FAKE_OWNER_TOKEN as OWNER_TOKEN,
  FAKE_SHOP_TOKEN as SHOP_TOKEN,
  type FakeBotApi,
  type FakeBotCall,
  type FakeGateway,
  makeTempDir,
  removeDir,
  startBotProcess,
  startEphemeralCluster,
  startFakeBotApi,
  startFakeGateway,
  type Tenant,
  BOT_MAIN,
  runBotctl,
} from '@botctl/test-utils';
import { execFile, spawn } from 'node:child_process';

const OWNER = 9001;
let cluster: EphemeralCluster;
let work: string;
let api: FakeBotApi;
let gw: FakeGateway;
const bots: BotProcess[] = [];
const pools: Sql[] = [];

beforeAll(async () => {
  work = makeTempDir('botctl-bot-');
  cluster = await startEphemeralCluster({ parentDir: work });
  api = await startFakeBotApi({ tokens: [SHOP_TOKEN, OWNER_TOKEN] });
  gw = await startFakeGateway();
});

afterEach(async () => {
  await Promise.all(bots.splice(0).map((b) => b.stop('SIGTERM')));
  await Promise.all(pools.splice(0).map((s) => s.end({ timeout: 5 })));
  api.reset();
  gw.createDelayMs = 0;
  gw.expiresInMs = 15 * 60_000;
});

afterAll(async () => {
  await gw?.close();
  await api?.close();
  await cluster?.destroy();
  removeDir(work);
});

async function shop(extra: Record<string, string> = {}): Promise<{ t: Tenant; sql: Sql; cipher: FieldCipher }> {
  const t = await createTenant({
    cluster,
    parentDir: work,
    extraEnv: {
      TELEGRAM_BOT_TOKEN: SHOP_TOKEN,
      OWNER_BOT_TOKEN: OWNER_TOKEN,
      TELEGRAM_OWNER_IDS: String(OWNER),
      TELEGRAM_API_ROOT: api.url,
      PAKASIR_BASE_URL: gw.url,
      PAKASIR_PROJECT_SLUG: gw.project,
      PAKASIR_API_KEY: gw.apiKey,
      BOT_HTTP_PORT: '0',
      ENABLE_AUTO_HEALTHCHECK: 'false',
      ...extra,
    },
  });
  const sql = createSql(t.databaseUrl, { max: 4 });
  pools.push(sql);
  return { t, sql, cipher: FieldCipher.fromSecret(new Secret(t.dataKey)) };
}

async function start(t: Tenant): Promise<BotProcess> {
  const b = await startBotProcess({ envFile: t.envFile, cwd: t.dir });
  bots.push(b);
  return b;
}

let nextMessageId = 1;
const buyer = (id: number) => ({ id, is_bot: false, first_name: `Pembeli${id}`, username: `pembeli${id}` });
const say = (from: number, text: string) =>
  api.pushUpdate({
    message: {
      message_id: nextMessageId++,
      date: Math.floor(Date.now() / 1000),
      chat: { id: from, type: 'private' },
      from: buyer(from),
      text,
      ...(text.startsWith('/') ? { entities: [{ type: 'bot_command', offset: 0, length: text.split(' ')[0]!.length }] } : {}),
    },
  });
const tap = (from: number, data: string) =>
  api.pushUpdate({
    callback_query: {
      id: `cb${nextMessageId++}`,
      from: buyer(from),
      chat_instance: 'x',
      data,
      message: { message_id: 1, date: Math.floor(Date.now() / 1000), chat: { id: from, type: 'private' }, text: 'menu' },
    },
  });
const sentTo =
  (chat: number, re: RegExp, token = SHOP_TOKEN) =>
  (c: FakeBotCall) =>
    c.token === token && Number(c.params.chat_id) === chat && re.test(String(c.params.text ?? c.params.caption ?? ''));

async function productId(sql: Sql, code: string): Promise<number> {
  const [p] = await sql<{ id: number }[]>`SELECT id FROM products WHERE code = ${code}`;
  return p!.id;
}
async function available(sql: Sql, pid: number): Promise<number> {
  const [r] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM product_stock_items WHERE product_id = ${pid} AND status = 'available'`;
  return Number(r!.n);
}

/** The invoice message the bot recorded (it records right after Telegram answers the send). */
async function invoiceMessageId(sql: Sql, orderId: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const [m] = await sql<
      { message_id: string }[]
    >`SELECT m.message_id FROM invoice_messages m JOIN payments p ON p.id = m.payment_id WHERE p.gateway_order_id = ${orderId}`;
    if (m) return Number(m.message_id);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no invoice message recorded for ${orderId}`);
}

/** Buyer taps through to a QRIS invoice; returns the gateway order id and the invoice photo call. */
async function orderByQris(buyerId: number, pid: number, qty = 1): Promise<{ orderId: string; photo: FakeBotCall }> {
  const isInvoice = (c: FakeBotCall) => c.method === 'sendPhoto' && sentTo(buyerId, /Invoice INV-/)(c);
  const seen = new Set(api.calls.filter(isInvoice));
  tap(buyerId, `b:${pid}:${qty}:q`);
  const photo = await api.waitForCall((c) => isInvoice(c) && !seen.has(c), 15_000);
  const orderId = /Invoice (INV-[A-Z0-9-]+)/.exec(String(photo.params.caption))![1]!;
  return { orderId, photo };
}

/** The buyer taps "✅ Penuhi SNK" under the SNK prompt and waits for the question. */
async function penuhiSnk(buyerId: number, prompt: RegExp): Promise<void> {
  const msg = await api.waitForCall(sentTo(buyerId, prompt));
  const kb = (msg.params.reply_markup as { inline_keyboard: { text: string; callback_data: string }[][] }).inline_keyboard.flat();
  tap(buyerId, kb.find((b) => b.text === '✅ Penuhi SNK')!.callback_data);
  await api.waitForCall(sentTo(buyerId, /Kirim jawaban Anda <b>sekarang<\/b>/));
}

describe('the shop bot, end to end (real bot process, PostgreSQL, fake Bot API and gateway)', () => {
  it('takes a buyer from /start to delivery: catalog, product, quantity, QRIS invoice, verified payment, goods, SNK', async () => {
    const { t, sql, cipher } = await shop();
    const bot = await start(t);
    const B = 555_001;
    const nfx = await productId(sql, 'NFX1');
    const stockBefore = await available(sql, nfx);

    say(B, '/start');
    await api.waitForCall(sentTo(B, /Selamat datang di <b>Toko Test/));
    tap(B, 'c:0');
    const list = await api.waitForCall((c) => c.method === 'editMessageText' && sentTo(B, /Daftar produk/)(c));
    expect(String(list.params.text)).toMatch(/Netflix Premium 1 Bulan<\/b>: Rp35\.000 \(stok \d+\)/);
    tap(B, `p:${nfx}`);
    await api.waitForCall((c) => c.method === 'editMessageText' && sentTo(B, /Pilih jumlah/)(c));
    tap(B, `q:${nfx}:1`);
    await api.waitForCall((c) => c.method === 'editMessageText' && sentTo(B, /Konfirmasi pesanan[\s\S]*Rp35\.000/)(c));

    const { orderId, photo } = await orderByQris(B, nfx);
    expect(photo.files).toEqual(['photo']);
    expect(String(photo.params.caption)).toMatch(/Total bayar \(termasuk biaya\): <b>Rp35\.555<\/b>/);
    expect(String(photo.params.caption)).toMatch(/Bayar sebelum: <b>.*WIB<\/b>/);
    const photoMessageId = await invoiceMessageId(sql, orderId);
    expect(await available(sql, nfx)).toBe(stockBefore - 1);

    // The buyer pays; the gateway notifies the bot.
    gw.pay(orderId);
    const res = await gw.notify(`${bot.httpUrl}/webhook/pakasir`, orderId);
    expect(res).toEqual({ status: 200, body: { ok: true, outcome: 'order_paid' } });

    const [sold] = await sql<{ secret_enc: string }[]>`
      SELECT s.secret_enc FROM product_stock_items s JOIN orders o ON o.id = s.order_id WHERE o.public_id = ${orderId} AND s.status = 'sold'`;
    const secret = cipher.decryptText(sold!.secret_enc, STOCK_SECRET_CONTEXT);
    const delivered = api.calls.find(sentTo(B, /Pembayaran diterima/))!;
    expect(String(delivered.params.text)).toContain(secret);
    expect(api.callsTo('deleteMessage', SHOP_TOKEN).map((c) => Number(c.params.message_id))).toContain(photoMessageId);
    await api.waitForCall(sentTo(OWNER, new RegExp(`Pesanan ${orderId} lunas: Rp35\\.000`), OWNER_TOKEN));
    const [order] = await sql<{ status: string }[]>`SELECT status FROM orders WHERE public_id = ${orderId}`;
    expect(order!.status).toBe('delivered');
    expect(await available(sql, nfx)).toBe(stockBefore - 1);

    // SNK: the product has terms; the buyer taps "✅ Penuhi SNK", answers, and the answer is stored
    // encrypted and forwarded to the owner.
    await penuhiSnk(B, /SNK Netflix Premium 1 Bulan/);
    say(B, 'Sudah login, profil Budi-rahasia-42');
    await api.waitForCall(sentTo(B, /SNK untuk Netflix Premium 1 Bulan sudah kami terima/));
    const [snk] = await sql<{ content_enc: string; kind: string }[]>`
      SELECT s.content_enc, s.kind FROM product_term_submissions s JOIN orders o ON o.id = s.order_id WHERE o.public_id = ${orderId}`;
    expect(snk!.kind).toBe('text');
    expect(snk!.content_enc).not.toContain('Budi-rahasia-42');
    expect(cipher.decryptText(snk!.content_enc, SNK_CONTENT_CONTEXT)).toBe('Sudah login, profil Budi-rahasia-42');
    await api.waitForCall(sentTo(OWNER, /SNK Netflix[\s\S]*Budi-rahasia-42/, OWNER_TOKEN));

    // Another buyer sees nothing of it: their /pesanan is empty, and a crafted button for the order is refused.
    const C = 555_002;
    say(C, '/pesanan');
    await api.waitForCall(sentTo(C, /belum punya pesanan/));
    const [oid] = await sql<{ id: string }[]>`SELECT id FROM orders WHERE public_id = ${orderId}`;
    tap(C, `o:${oid!.id}`);
    await api.waitForCall((c) => c.method === 'answerCallbackQuery' && /tidak ditemukan/.test(String(c.params.text)));
    expect(api.calls.filter((c) => Number(c.params.chat_id) === C && String(c.params.text ?? '').includes(secret))).toHaveLength(0);

    // The log: plan format, no token.
    const logText = fs.readFileSync(path.join(t.logDir, 'bot-order', fs.readdirSync(path.join(t.logDir, 'bot-order')).sort().at(-1)!), 'utf8');
    expect(logText).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[INFO\] \[payment\] INV-/m);
    expect(logText).not.toContain(SHOP_TOKEN.split(':')[1]);
    expect(logText).not.toContain(gw.apiKey);
  });

  it('tops up a deposit once however often the webhook is replayed, then pays from the balance and takes an SNK photo', async () => {
    const { t, sql, cipher } = await shop();
    const bot = await start(t);
    const B = 555_010;
    say(B, '/deposit 100000');
    const photo = await api.waitForCall((c) => c.method === 'sendPhoto' && sentTo(B, /Invoice DEP-/)(c));
    const depId = /Invoice (DEP-[A-Z0-9-]+)/.exec(String(photo.params.caption))![1]!;

    // Before paying: a forged "completed" notice changes nothing.
    expect((await gw.notify(`${bot.httpUrl}/webhook/pakasir`, depId)).body).toEqual({ ok: true, outcome: 'not_paid' });
    gw.pay(depId);
    // Replayed and concurrent notices: one credit.
    const results = await Promise.all(Array.from({ length: 8 }, () => gw.notify(`${bot.httpUrl}/webhook/pakasir`, depId)));
    const outcomes = results.map((r) => (r.body as { outcome: string }).outcome).sort();
    expect(outcomes.filter((o) => o === 'deposit_credited')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'already_settled')).toHaveLength(7);
    expect((await gw.notify(`${bot.httpUrl}/webhook/pakasir`, depId)).body).toEqual({ ok: true, outcome: 'already_settled' });
    const [u] = await sql<{ balance: string; id: string }[]>`SELECT id, balance FROM users WHERE telegram_id = ${B}`;
    expect(Number(u!.balance)).toBe(100_000);
    const ledger = await sql`SELECT delta FROM balance_ledger WHERE user_id = ${u!.id}`;
    expect(ledger.map((l) => Number(l.delta))).toEqual([100_000]);
    await api.waitForCall(sentTo(B, /Deposit Rp100\.000 masuk\. Saldo Anda sekarang <b>Rp100\.000/));

    // Pay ChatGPT Plus (Rp90.000, has SNK) from the balance.
    const gpt = await productId(sql, 'GPT1');
    tap(B, `b:${gpt}:1:s`);
    await api.waitForCall(sentTo(B, /Pembayaran diterima[\s\S]*ChatGPT Plus/));
    await api.waitForCall(sentTo(B, /Sisa saldo: Rp10\.000/));
    const [after] = await sql<{ balance: string }[]>`SELECT balance FROM users WHERE telegram_id = ${B}`;
    expect(Number(after!.balance)).toBe(10_000);
    // Not enough balance for a second one: refused, nothing changes.
    tap(B, `b:${gpt}:1:s`);
    await api.waitForCall((c) => c.method === 'answerCallbackQuery' && /Saldo kurang/.test(String(c.params.text)));

    await penuhiSnk(B, /SNK ChatGPT Plus/);
    api.pushUpdate({
      message: {
        message_id: nextMessageId++,
        date: Math.floor(Date.now() / 1000),
        chat: { id: B, type: 'private' },
        from: buyer(B),
        photo: [{ file_id: 'buyer-photo-1', file_unique_id: 'u1', width: 800, height: 600 }],
        caption: 'bukti login',
      },
    });
    await api.waitForCall(sentTo(B, /SNK untuk ChatGPT Plus/));
    const [snk] = await sql<
      { kind: string; content_enc: string }[]
    >`SELECT kind, content_enc FROM product_term_submissions s JOIN users u ON u.id = s.user_id WHERE u.telegram_id = ${B}`;
    expect(snk!.kind).toBe('photo');
    expect(snk!.content_enc).not.toContain('buyer-photo-1');
    expect(cipher.decryptText(snk!.content_enc, SNK_CONTENT_CONTEXT)).toBe('buyer-photo-1');
    // Downloaded through the shop bot, re-uploaded through the notification bot (file ids are per bot).
    const forwarded = await api.waitForCall((c) => c.method === 'sendPhoto' && c.token === OWNER_TOKEN && Number(c.params.chat_id) === OWNER);
    expect(forwarded.files).toEqual(['photo']);
    expect(String(forwarded.params.caption)).toMatch(/SNK ChatGPT Plus.*bukti login/);
  });

  it('grants a concurrently confirmed order once and ignores forged, unknown and malformed notices', async () => {
    const { t, sql } = await shop();
    const bot = await start(t);
    const B = 555_020;
    const spt = await productId(sql, 'SPT1');
    const before = await available(sql, spt);
    const { orderId } = await orderByQris(B, spt, 2);
    const hook = `${bot.httpUrl}/webhook/pakasir`;

    // Forged: the body says completed, the gateway says pending.
    expect((await gw.notify(hook, orderId)).body).toEqual({ ok: true, outcome: 'not_paid' });
    const [pending] = await sql<{ status: string }[]>`SELECT status FROM orders WHERE public_id = ${orderId}`;
    expect(pending!.status).toBe('pending');
    expect(api.calls.filter(sentTo(B, /Pembayaran diterima/))).toHaveLength(0);
    expect((await gw.notify(hook, 'INV-000000-NOPE')).status).toBe(404);
    const bad = await fetch(hook, { method: 'POST', body: 'not json' });
    expect(bad.status).toBe(400);

    gw.pay(orderId);
    const results = await Promise.all(Array.from({ length: 10 }, () => gw.notify(hook, orderId)));
    expect(results.filter((r) => (r.body as { outcome: string }).outcome === 'order_paid')).toHaveLength(1);
    await api.waitForCall(sentTo(B, /Pembayaran diterima/));
    await new Promise((r) => setTimeout(r, 300));
    expect(api.calls.filter(sentTo(B, /Pembayaran diterima/))).toHaveLength(1);
    const [sold] = await sql<
      { n: string }[]
    >`SELECT count(*) AS n FROM product_stock_items s JOIN orders o ON o.id = s.order_id WHERE o.public_id = ${orderId} AND s.status = 'sold'`;
    expect(Number(sold!.n)).toBe(2);
    expect(await available(sql, spt)).toBe(before - 2);
  });

  it('sells what the owner stocked from the host while the bot runs: botctl catalog import, stock add, then a buyer gets exactly that line', async () => {
    const { t, sql } = await shop();
    const bot = await start(t);
    fs.writeFileSync(path.join(t.dir, 'katalog.csv'), 'code,name,price,description,category\nGAME1,Voucher Game 50K,50000,Kode redeem,Game\n');
    const line = 'REDEEM-7H2K-Q9X4 (pin: 0042#)';
    fs.writeFileSync(path.join(t.dir, 'stok.txt'), `${line}\n`);
    const botctl = (args: string[]) => runBotctl(['--env-file', t.envFile, '--no-alert', ...args], { cwd: t.dir });
    expect(await botctl(['catalog', 'import', 'katalog.csv'])).toMatchObject({ exitCode: 0 });
    expect(await botctl(['stock', 'add', 'GAME1', 'stok.txt'])).toMatchObject({ exitCode: 0 });

    // Seen at once: the product shows its stock, no restart.
    const B = 555_050;
    const pid = await productId(sql, 'GAME1');
    tap(B, `p:${pid}`);
    const detail = await api.waitForCall((c) => sentTo(B, /Voucher Game 50K/)(c));
    expect(String(detail.params.text)).toMatch(/Stok: 1\b/);
    tap(B, `q:${pid}:1`);
    await api.waitForCall((c) => sentTo(B, /Konfirmasi pesanan[\s\S]*Rp50\.000/)(c));
    const { orderId } = await orderByQris(B, pid);
    gw.pay(orderId);
    expect(await gw.notify(`${bot.httpUrl}/webhook/pakasir`, orderId)).toEqual({ status: 200, body: { ok: true, outcome: 'order_paid' } });
    const delivered = await api.waitForCall(sentTo(B, /Pembayaran diterima/));
    // The very line added, as the buyer reads it (HTML-escaped in the message, nothing else changed).
    expect(String(delivered.params.text)).toContain(line);
    expect(JSON.parse((await botctl(['--json', 'stock', 'list', 'GAME1'])).stdout).products).toEqual([
      { code: 'GAME1', name: 'Voucher Game 50K', active: true, available: 0, reserved: 0, sold: 1 },
    ]);
  });

  it('expires an unpaid invoice: stock released once, invoice removed from the chat (edited when Telegram refuses the delete), buyer told', async () => {
    const { t, sql } = await shop({ EXPIRED_PAYMENTS_CRON: '*/1 * * * * *' });
    const bot = await start(t);
    const cnv = await productId(sql, 'CNV1');
    const before = await available(sql, cnv);
    gw.expiresInMs = 1500;

    const first = await orderByQris(555_030, cnv, 1);
    const firstMsg = await invoiceMessageId(sql, first.orderId);
    await api.waitForCall((c) => c.method === 'deleteMessage' && Number(c.params.message_id) === firstMsg, 15_000);
    await api.waitForCall(sentTo(555_030, new RegExp(`Invoice ${first.orderId} \\(Rp15\\.\\d+\\) sudah kedaluwarsa`)));
    await bot.waitForLine(/\[expired_payments\] 1 invoice kedaluwarsa, 1 stok dikembalikan, 1 pesan dihapus/);
    // Logged right after, but it may reach us in a later chunk of the bot's stdout.
    await bot.waitForLine(/\[expired_deposits\] 0 deposit kedaluwarsa/);
    expect(await available(sql, cnv)).toBe(before);
    const [o] = await sql<{ status: string }[]>`SELECT status FROM orders WHERE public_id = ${first.orderId}`;
    expect(o!.status).toBe('expired');

    // Telegram refuses deletes of old messages: the invoice is edited instead.
    api.queue('deleteMessage', { status: 400, description: "Bad Request: message can't be deleted for everyone" });
    const second = await orderByQris(555_031, cnv, 1);
    const edit = await api.waitForCall((c) => c.method === 'editMessageCaption' && Number(c.params.chat_id) === 555_031, 15_000);
    expect(String(edit.params.caption)).toContain(`Invoice ${second.orderId} kedaluwarsa`);
    await bot.waitForLine(/\[expired_payments\] 1 invoice kedaluwarsa, 1 stok dikembalikan, 0 pesan dihapus, 1 diedit/);
    // Paid after it expired: the gateway is the truth, the buyer still gets the goods.
    gw.pay(second.orderId);
    expect((await gw.notify(`${bot.httpUrl}/webhook/pakasir`, second.orderId)).body).toEqual({ ok: true, outcome: 'order_paid' });
    await api.waitForCall(sentTo(555_031, /Pembayaran diterima/));
    expect(await available(sql, cnv)).toBe(before - 1);
    const [removed] = await sql<
      { n: string }[]
    >`SELECT count(*) AS n FROM invoice_messages WHERE removed_at IS NULL AND payment_id IS NOT NULL AND chat_id IN (555030, 555031)`;
    expect(Number(removed!.n)).toBe(0);
  });

  it('the 6 November rule: an invoice or deposit message Telegram could not delete for a passing reason (5xx) is removed on the next run', async () => {
    const { t, sql } = await shop({ EXPIRED_PAYMENTS_CRON: '*/1 * * * * *' });
    const bot = await start(t);
    const cnv = await productId(sql, 'CNV1');
    const bad = { status: 502, description: 'Bad Gateway' } as const;
    // One delete fails however often the client retries it (its four attempts), then Telegram is back.
    api.queue('deleteMessage', bad, bad, bad, bad);
    gw.expiresInMs = 1500;
    const o = await orderByQris(555_040, cnv, 1);
    const orderMsg = await invoiceMessageId(sql, o.orderId);
    await bot.waitForLine(
      new RegExp(
        `\\[expired_payments\\] pesan 555040/${orderMsg} belum terhapus \\(percobaan ke-1; dicoba lagi pada run berikutnya\\): Telegram deleteMessage: 502`,
      ),
      20_000,
    );
    await bot.waitForLine(new RegExp(`\\[expired_payments\\] ulang: pesan 555040/${orderMsg} dihapus`), 15_000);

    // A paid deposit: the same for its invoice message.
    gw.expiresInMs = 15 * 60_000;
    say(555_041, '/deposit 50000');
    const photo = await api.waitForCall((c) => c.method === 'sendPhoto' && sentTo(555_041, /Invoice DEP-/)(c));
    const depId = /Invoice (DEP-[A-Z0-9-]+)/.exec(String(photo.params.caption))![1]!;
    api.queue('deleteMessage', bad, bad, bad, bad);
    gw.pay(depId);
    expect((await gw.notify(`${bot.httpUrl}/webhook/pakasir`, depId)).body).toEqual({ ok: true, outcome: 'deposit_credited' });
    await bot.waitForLine(/\[expired_deposits\] pesan 555041\/\d+ belum terhapus \(percobaan ke-1; dicoba lagi pada run berikutnya\)/, 20_000);
    await bot.waitForLine(/\[expired_deposits\] ulang: pesan 555041\/\d+ dihapus/, 15_000);

    const rows = await sql<{ chat_id: string; outcome: string | null; removed: boolean; attempts: number }[]>`
      SELECT chat_id, outcome, removed_at IS NOT NULL AS removed, attempts FROM invoice_messages WHERE chat_id IN (555040, 555041) ORDER BY chat_id`;
    expect(rows.map((r) => [Number(r.chat_id), r.outcome, r.removed, r.attempts])).toEqual([
      [555_040, 'deleted', true, 2],
      [555_041, 'deleted', true, 2],
    ]);
  });

  it('a paid buyer always gets the goods: 25 orders whose buyers blocked the bot do not starve the 26th; an order given up is told to the owners and /pesanan still shows it', async () => {
    const { t, sql, cipher } = await shop({ EXPIRED_PAYMENTS_CRON: '*/1 * * * * *', DELIVERY_RETRY_LIMIT: '3' });
    const spt = await productId(sql, 'SPT1');
    await sql`INSERT INTO product_stock_items ${sql(Array.from({ length: 30 }, (_, i) => ({ product_id: spt, secret_enc: cipher.encrypt(`spotify-${i}@toko.test`, STOCK_SECRET_CONTEXT) })))}`;
    // 26 paid orders whose delivery did not get through (the bot was down); the oldest 25 are
    // of buyers who blocked the bot since.
    const order = async (buyerId: number, ageSeconds: number) => {
      const u = await upsertUser(sql, { id: buyerId, first_name: `B${buyerId}` });
      await sql`UPDATE users SET balance = 25000 WHERE id = ${u.id}`;
      const r = await payWithBalance(sql, { userId: u.id, productId: spt, quantity: 1, publicId: newPublicId('INV', new Date()) });
      if (!r.ok) throw new Error(r.reason);
      await sql`UPDATE orders SET paid_at = now() - make_interval(secs => ${ageSeconds}) WHERE id = ${r.orderId}`;
      return r;
    };
    const blocked: string[] = [];
    for (let i = 0; i < 25; i++) {
      api.forChat(556_000 + i, { status: 403, description: 'Forbidden: bot was blocked by the user' });
      blocked.push((await order(556_000 + i, 3600 - i)).publicId);
    }
    const last = await order(556_100, 600);

    const bot = await start(t);
    await api.waitForCall(sentTo(556_100, new RegExp(`Pembayaran diterima</b>: pesanan <code>${last.publicId}`)), 20_000);
    await bot.waitForLine(new RegExp(`\\[payment\\] pesanan ${last.publicId} akhirnya terkirim ke pembeli 556100`));
    // Each blocked order waits on its own backoff.
    const waiting = await sql<
      { n: string }[]
    >`SELECT count(*) AS n FROM orders WHERE public_id IN ${sql(blocked)} AND status = 'paid' AND delivery_attempts >= 1 AND next_delivery_at > now()`;
    expect(Number(waiting[0]!.n)).toBe(25);

    // One of them reaches the limit: the owners hear of it with the order and the buyer.
    await sql`UPDATE orders SET delivery_attempts = 2, next_delivery_at = now() WHERE public_id = ${blocked[0]!}`;
    const told = await api.waitForCall(
      (c) => c.token === OWNER_TOKEN && /pesanan lunas tidak bisa dikirim ke pembelinya setelah 3 percobaan/.test(String(c.params.text)),
      15_000,
    );
    expect(String(told.params.text)).toContain(`${blocked[0]} (Rp25.000, pembeli 556000): Telegram sendMessage: 403`);
    expect(String(told.params.text)).toContain('/pesanan');
    const [gave] = await sql<
      { given: boolean; status: string }[]
    >`SELECT delivery_given_up_at IS NOT NULL AS given, status FROM orders WHERE public_id = ${blocked[0]!}`;
    expect(gave).toEqual({ given: true, status: 'paid' });
    // The buyer unblocks the bot: /pesanan shows the goods.
    api.forChat(556_000, undefined);
    say(556_000, '/pesanan');
    const list = await api.waitForCall(sentTo(556_000, /Pesanan terakhir Anda/));
    const button = (list.params.reply_markup as { inline_keyboard: { text: string; callback_data: string }[][] }).inline_keyboard
      .flat()
      .find((b) => b.text.includes(blocked[0]!));
    const seen = api.calls.length;
    tap(556_000, button!.callback_data);
    const goods = await api.waitForCall((c) => api.calls.indexOf(c) >= seen && sentTo(556_000, /Spotify Premium 1 Bulan<\/b> × 1\n<code>[^<]+<\/code>/)(c));
    const [sold] = await sql<
      { secret_enc: string }[]
    >`SELECT s.secret_enc FROM product_stock_items s JOIN orders o ON o.id = s.order_id WHERE o.public_id = ${blocked[0]!}`;
    expect(String(goods.params.text)).toContain(cipher.decryptText(sold!.secret_enc, STOCK_SECRET_CONTEXT));
  });

  it("tells the owners of every paid order (delivery failed too), refunds a late payment's whole amount with the fee, and reports a gateway amount that differs", async () => {
    const { t, sql } = await shop();
    const bot = await start(t);
    const cnv = await productId(sql, 'CNV1');
    // Paid, but the goods cannot be sent right now (each try of the client fails). Only this buyer's
    // chat: the owners' notices go on meanwhile (a queue of failures for any sendMessage was taken
    // by the new-order notice about half the time).
    const bad = { status: 502, description: 'Bad Gateway' } as const;
    const first = await orderByQris(556_200, cnv, 1);
    gw.pay(first.orderId);
    api.forChat(556_200, bad);
    expect((await gw.notify(`${bot.httpUrl}/webhook/pakasir`, first.orderId)).body).toEqual({ ok: true, outcome: 'order_paid' });
    const owner = await api.waitForCall((c) => c.token === OWNER_TOKEN && new RegExp(`Pesanan ${first.orderId} lunas`).test(String(c.params.text)));
    expect(String(owner.params.text)).toMatch(
      /Canva Pro 1 Bulan ×1\) oleh pembeli 556200\.\n⚠️ Barang belum sampai ke pembeli \(Telegram sendMessage: 502 Bad Gateway\); dicoba lagi otomatis/,
    );
    const [o] = await sql<{ status: string; attempts: number }[]>`SELECT status, delivery_attempts AS attempts FROM orders WHERE public_id = ${first.orderId}`;
    expect(o).toEqual({ status: 'paid', attempts: 1 });
    api.forChat(556_200, undefined);

    // Paid after it expired and the stock is gone: all the buyer paid goes to the balance.
    const late = await orderByQris(556_201, cnv, 1);
    const [pay] = await sql<
      { total: string; amount: string; order_id: string }[]
    >`SELECT total_payment AS total, amount, order_id FROM payments WHERE gateway_order_id = ${late.orderId}`;
    await sql`UPDATE payments SET status = 'expired' WHERE gateway_order_id = ${late.orderId}`;
    await sql`UPDATE orders SET status = 'expired' WHERE id = ${pay!.order_id}`;
    await sql`UPDATE product_stock_items SET status = 'sold', sold_at = now(), order_id = (SELECT id FROM orders WHERE public_id = ${first.orderId}) WHERE product_id = ${cnv} AND status IN ('available', 'reserved')`;
    gw.pay(late.orderId);
    expect((await gw.notify(`${bot.httpUrl}/webhook/pakasir`, late.orderId)).body).toEqual({ ok: true, outcome: 'order_refunded' });
    const total = Number(pay!.total);
    const fee = total - Number(pay!.amount);
    expect(fee).toBeGreaterThan(0);
    const [u] = await sql<{ balance: string }[]>`SELECT balance FROM users WHERE telegram_id = 556201`;
    expect(Number(u!.balance)).toBe(total);
    const rp = (x: number) => `Rp${x.toLocaleString('id-ID')}`;
    await api.waitForCall(
      sentTo(
        556_201,
        new RegExp(`Seluruh pembayaran Anda, ${rp(total)} \\(harga ${rp(Number(pay!.amount))} \\+ biaya QRIS ${rp(fee)}\\), sudah masuk ke saldo`),
      ),
    );

    // The gateway reports another amount: nothing granted, the owners told once however often it comes.
    await sql`UPDATE product_stock_items SET status = 'available', order_id = NULL, sold_at = NULL WHERE product_id = ${cnv} AND order_id = (SELECT id FROM orders WHERE public_id = ${first.orderId}) AND id NOT IN (SELECT id FROM product_stock_items WHERE order_id = (SELECT id FROM orders WHERE public_id = ${first.orderId}) ORDER BY id LIMIT 1)`;
    const odd = await orderByQris(556_202, cnv, 1);
    gw.pay(odd.orderId);
    gw.transactions.get(odd.orderId)!.reported_amount = 1000;
    for (let i = 0; i < 3; i++) expect((await gw.notify(`${bot.httpUrl}/webhook/pakasir`, odd.orderId)).body).toEqual({ ok: true, outcome: 'mismatch' });
    await api.waitForCall((c) => c.token === OWNER_TOKEN && new RegExp(`Pembayaran ${odd.orderId} tidak diproses`).test(String(c.params.text)));
    await new Promise((r) => setTimeout(r, 300));
    expect(api.calls.filter((c) => c.token === OWNER_TOKEN && new RegExp(`Pembayaran ${odd.orderId} tidak diproses`).test(String(c.params.text)))).toHaveLength(
      1,
    );
    const [still] = await sql<{ status: string }[]>`SELECT status FROM orders WHERE public_id = ${odd.orderId}`;
    expect(still!.status).toBe('pending');
  });

  it('an invoice whose QR photo cannot be sent: the buyer gets the amount with retry and cancel buttons, the stock is held minutes, not the whole expiry', async () => {
    const { sql, t } = await shop();
    await start(t);
    const cnv = await productId(sql, 'CNV1');
    const before = await available(sql, cnv);
    api.queue('sendPhoto', { status: 400, description: 'Bad Request: wrong file identifier/HTTP URL specified' });
    tap(556_300, `b:${cnv}:1:q`);
    const text = await api.waitForCall((c) => c.method === 'sendMessage' && sentTo(556_300, /Gambar QRIS belum bisa dikirim/)(c), 15_000);
    expect(String(text.params.text)).toMatch(/Invoice INV-[\s\S]*Total bayar \(termasuk biaya\): <b>Rp15\.\d+<\/b>[\s\S]*stok ditahan sampai/);
    const orderId = /Invoice (INV-[A-Z0-9-]+)/.exec(String(text.params.text))![1]!;
    const [hold] = await sql<
      { minutes: number }[]
    >`SELECT extract(epoch FROM p.expires_at - now()) / 60 AS minutes FROM payments p WHERE gateway_order_id = ${orderId}`;
    expect(Number(hold!.minutes)).toBeLessThanOrEqual(5.1);
    expect(await available(sql, cnv)).toBe(before - 1);
    const buttons = (text.params.reply_markup as { inline_keyboard: { text: string; callback_data: string }[][] }).inline_keyboard.flat();
    // Retry: the QR comes now.
    tap(556_300, buttons.find((b) => /Kirim ulang/.test(b.text))!.callback_data);
    await api.waitForCall((c) => c.method === 'sendPhoto' && sentTo(556_300, new RegExp(`Invoice ${orderId}`))(c));
    // Cancel: the stock is back at once, the invoice messages leave the chat.
    tap(556_300, buttons.find((b) => /Batalkan/.test(b.text))!.callback_data);
    await api.waitForCall(sentTo(556_300, new RegExp(`Pesanan ${orderId} dibatalkan dan stoknya dikembalikan`)));
    expect(await available(sql, cnv)).toBe(before);
    const [o] = await sql<{ status: string }[]>`SELECT status FROM orders WHERE public_id = ${orderId}`;
    expect(o!.status).toBe('cancelled');
    const open =
      await sql`SELECT 1 FROM invoice_messages m JOIN payments p ON p.id = m.payment_id WHERE p.gateway_order_id = ${orderId} AND m.removed_at IS NULL`;
    expect(open).toHaveLength(0);
  });

  it('runs the expiry job safely in two bot instances at once', async () => {
    const { t, sql } = await shop({
      EXPIRED_PAYMENTS_CRON: '*/1 * * * * *',
      BOT_MODE: 'webhook',
      BOT_WEBHOOK_URL: 'https://shop.example',
      BOT_WEBHOOK_SECRET: 'webhook-secret-0123456789',
    });
    const a = await start(t);
    const b = await start(t);
    const ytp = await productId(sql, 'YTP1');
    const before = await available(sql, ytp);
    gw.expiresInMs = 60_000;
    // Ten invoices made through instance A (webhook mode: updates posted with the secret token).
    const post = (u: object, secret = 'webhook-secret-0123456789') =>
      fetch(`${a.httpUrl}/webhook/telegram`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret },
        body: JSON.stringify(u),
      });
    expect(
      (
        await post(
          { update_id: 1, message: { message_id: 1, date: 0, chat: { id: 1, type: 'private' }, from: buyer(1), text: '/start' } },
          'wrong-secret-000000000',
        )
      ).status,
    ).toBe(401);
    for (let i = 0; i < 10; i++) {
      const r = await post({
        update_id: 100 + i,
        callback_query: {
          id: `x${i}`,
          from: buyer(556_000 + i),
          chat_instance: 'x',
          data: `b:${ytp}:1:q`,
          message: { message_id: 1, date: 0, chat: { id: 556_000 + i, type: 'private' }, text: 'm' },
        },
      });
      expect(r.status).toBe(200);
    }
    expect(api.callsTo('sendPhoto', SHOP_TOKEN)).toHaveLength(10);
    expect(await available(sql, ytp)).toBe(before - 10);
    await sql`UPDATE payments SET expires_at = now() - interval '1 second' WHERE status = 'pending' AND gateway_order_id LIKE 'INV-%'`;
    for (let i = 0; i < 10; i++) await api.waitForCall(sentTo(556_000 + i, /sudah kedaluwarsa/), 15_000);
    await new Promise((r) => setTimeout(r, 2500));
    expect(await available(sql, ytp)).toBe(before);
    const deletes = api.callsTo('deleteMessage', SHOP_TOKEN).map((c) => `${c.params.chat_id}/${c.params.message_id}`);
    expect(deletes).toHaveLength(10);
    expect(new Set(deletes).size).toBe(10);
    expect(api.calls.filter((c) => /sudah kedaluwarsa/.test(String(c.params.text ?? '')))).toHaveLength(10);
    const expired = [...a.lines, ...b.lines]
      .map((l) => /\[expired_payments\] (\d+) invoice/.exec(l))
      .filter(Boolean)
      .map((m) => Number(m![1]));
    expect(expired.reduce((x, y) => x + y, 0)).toBe(10);
  });

  it('answers owner commands only to owners; anyone else gets what an unknown command gets', async () => {
    const { t } = await shop();
    await start(t);
    const B = 555_040;
    for (const cmd of ['/nonsense', '/stats', '/health', '/backup']) say(B, cmd);
    await api.waitForCall(
      (c) => c.method === 'sendMessage' && Number(c.params.chat_id) === B && api.calls.filter((x) => Number(x.params.chat_id) === B).length >= 4,
    );
    await new Promise((r) => setTimeout(r, 300));
    const replies = api.calls.filter((c) => c.method === 'sendMessage' && Number(c.params.chat_id) === B).map((c) => c.params.text);
    expect(replies).toHaveLength(4);
    expect(new Set(replies).size).toBe(1);
    expect(replies[0]).toMatch(/Perintah tidak dikenal/);

    say(OWNER, '/stats');
    const stats = await api.waitForCall(sentTo(OWNER, /Statistik hari ini/));
    expect(String(stats.params.text)).toMatch(/Transaksi: \d+[\s\S]*Uptime bot:[\s\S]*CPU \d+%/);
    say(OWNER, '/health');
    await api.waitForCall(sentTo(OWNER, /Health check<\/b>: (OK|WARNING|CRITICAL|UNKNOWN)/), 30_000);
    say(OWNER, '/backup');
    await api.waitForCall(sentTo(OWNER, /^Backup selesai: backup-\d{8}-\d{6}\.tar\.gz\.enc/), 60_000);
    expect(fs.readdirSync(t.localDir).filter((f) => f.endsWith('.tar.gz.enc'))).toHaveLength(1);
  });

  it('invoice buttons through the Pakasir client: the pay page link, "🔄 Cek status" finds a payment whose webhook was lost, "❌ Batalkan" cancels at the gateway', async () => {
    const { t, sql } = await shop({ PAKASIR_PUBLIC_DOMAIN: 'https://pay.toko.example/' });
    await start(t);
    const B = 555_070;
    const spt = await productId(sql, 'SPT1');
    const first = await orderByQris(B, spt);
    const kb = (first.photo.params.reply_markup as { inline_keyboard: { text: string; callback_data?: string; url?: string }[][] }).inline_keyboard.flat();
    expect(kb.find((b) => b.url)!.url).toBe(`https://pay.toko.example/pay/${gw.project}/25000?order_id=${first.orderId}&qris_only=1`);
    // Paid; the webhook never comes. The tap asks the gateway and the goods arrive.
    gw.pay(first.orderId);
    tap(B, kb.find((b) => b.text === '🔄 Cek status')!.callback_data!);
    await api.waitForCall((c) => c.method === 'answerCallbackQuery' && c.params.text === '✅ Pembayaran diterima.');
    await api.waitForCall(sentTo(B, /Spotify Premium 1 Bulan/));
    const [o1] = await sql<{ status: string }[]>`SELECT status FROM orders WHERE public_id = ${first.orderId}`;
    expect(o1!.status).toBe('delivered');

    const before = await available(sql, spt);
    const second = await orderByQris(B, spt);
    expect(await available(sql, spt)).toBe(before - 1);
    const kb2 = (second.photo.params.reply_markup as { inline_keyboard: { text: string; callback_data?: string }[][] }).inline_keyboard.flat();
    tap(B, kb2.find((b) => b.text === '❌ Batalkan')!.callback_data!);
    await api.waitForCall(sentTo(B, new RegExp(`Pesanan ${second.orderId} dibatalkan dan stoknya dikembalikan`)));
    expect(gw.transactions.get(second.orderId)!.status).toBe('canceled');
    expect(gw.requests.some((r) => r.path === '/api/transactioncancel' && (r.body as { order_id?: string }).order_id === second.orderId)).toBe(true);
    expect(await available(sql, spt)).toBe(before);
    expect(api.callsTo('deleteMessage', SHOP_TOKEN).map((c) => Number(c.params.message_id))).toContain(await invoiceMessageId(sql, second.orderId));
  });

  it('broadcasts from an admin after a confirm step, through a queue that survives a restart: each buyer once, blocked and failed counted, the author told', async () => {
    const ADMIN = 9003;
    const { t, sql } = await shop({ TELEGRAM_ADMIN_IDS: String(ADMIN) });
    // Enough buyers that the broadcast takes several seconds at its pace of 20 a second.
    for (let i = 0; i < 80; i++) await upsertUser(sql, { id: 556_000 + i, first_name: `B${i}` });
    await sql`UPDATE users SET blocked_at = now() WHERE telegram_id = 556079`;
    api.forChat(556_001, { status: 403, description: 'Forbidden: bot was blocked by the user' });
    api.forChat(556_002, { status: 400, description: 'Bad Request: chat not found' });
    const bot = await start(t);
    say(ADMIN, '/broadcast Promo akhir tahun: diskon 20%!');
    const confirm = await api.waitForCall(sentTo(ADMIN, /Pratinjau broadcast #\d+ di atas\. Kirim ke <b>\d+<\/b> pembeli/));
    const [audience] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM users WHERE blocked_at IS NULL AND telegram_id <> ${ADMIN}`;
    // The preview is the message itself, as buyers will get it; nobody else has it yet.
    const promo = (c: FakeBotCall) => c.method === 'sendMessage' && c.params.text === 'Promo akhir tahun: diskon 20%!';
    expect(api.calls.filter(promo).map((c) => Number(c.params.chat_id))).toEqual([ADMIN]);
    const send = (confirm.params.reply_markup as { inline_keyboard: { text: string; callback_data: string }[][] }).inline_keyboard.flat()[0]!;
    expect(send.text).toBe(`✅ Kirim ke ${audience!.n} pembeli`);
    tap(ADMIN, send.callback_data);
    await api.waitForCall(sentTo(ADMIN, new RegExp(`diantrikan ke ${audience!.n} pembeli`)));

    // Stopped part way; a new process finishes the queue.
    for (let i = 0; i < 300 && api.calls.filter(promo).length < 30; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await bot.stop('SIGTERM')).toBe(0);
    const sentBefore = api.calls.filter(promo).length;
    expect(sentBefore).toBeLessThan(Number(audience!.n));
    await start(t);
    const report = await api.waitForCall(sentTo(ADMIN, /Broadcast #\d+ selesai/), 60_000);
    const tries = api.calls.filter(promo).filter((c) => Number(c.params.chat_id) !== ADMIN);
    const delivered = Number(audience!.n) - 2;
    expect(String(report.params.text)).toMatch(new RegExp(`selesai: ${delivered} terkirim, 1 memblokir bot, 1 gagal\\.`));
    // Each buyer exactly once (the two who cannot get it were tried once: neither error passes).
    const perChat = new Map<number, number>();
    for (const c of tries) perChat.set(Number(c.params.chat_id), (perChat.get(Number(c.params.chat_id)) ?? 0) + 1);
    expect(perChat.size).toBe(Number(audience!.n));
    expect([...perChat.values()].every((n) => n === 1)).toBe(true);
    expect(perChat.has(556_079)).toBe(false);
    // Under Telegram's limit: never more than 20 sends in one second.
    const at = tries.map((c) => c.at).sort((a, b) => a - b);
    for (let i = 20; i < at.length; i++) expect(at[i]! - at[i - 20]!).toBeGreaterThanOrEqual(900);
    api.forChat(556_001, undefined);
    api.forChat(556_002, undefined);
  });

  it('rotates old daily logs in its own log_rotate job (same archives as `botctl logs rotate`)', async () => {
    const { t } = await shop({ LOG_ROTATE_CRON: '*/2 * * * * *' });
    const old = new Date(Date.now() - 120 * 86_400_000).toISOString().slice(0, 10);
    const recent = new Date(Date.now() - 30 * 86_400_000).toISOString().slice(0, 10);
    for (const d of [old, recent]) fs.writeFileSync(path.join(t.logDir, 'bot-order', `${d}.log`), `[${d} 10:00:00] [INFO] line\n`);
    await start(t);
    const archive = path.join(t.dir, 'backups', 'logs', `logs-${old.slice(0, 7)}.tar.gz.enc`);
    for (let i = 0; i < 100 && fs.existsSync(path.join(t.logDir, 'bot-order', `${old}.log`)); i++) await new Promise((r) => setTimeout(r, 100));
    expect(fs.existsSync(path.join(t.logDir, 'bot-order', `${old}.log`))).toBe(false);
    expect(fs.existsSync(archive)).toBe(true);
    expect(fs.existsSync(path.join(t.offsiteStoreDir, 'logs', path.basename(archive)))).toBe(true);
    expect(fs.existsSync(path.join(t.logDir, 'bot-order', `${recent}.log`))).toBe(true);
    const out = await new Promise<string>((resolve, reject) =>
      execFile('sh', ['-c', `age --decrypt -i "${t.identityFile}" "${archive}" | tar -xzO bot-order/${old}.log`], (e, so) => (e ? reject(e) : resolve(so))),
    );
    expect(out).toBe(`[${old} 10:00:00] [INFO] line\n`);
  });

  it('finishes an update in flight on SIGTERM, confirms it, and does not repeat it after a restart', async () => {
    const { t, sql } = await shop();
    const bot = await start(t);
    const B = 555_050;
    const ml = await productId(sql, 'ML86');
    gw.createDelayMs = 2500;
    const creates = gw.requests.length;
    tap(B, `b:${ml}:1:q`);
    for (let i = 0; i < 200 && gw.requests.length === creates; i++) await new Promise((r) => setTimeout(r, 25));
    expect(gw.requests.length).toBeGreaterThan(creates);
    const code = await bot.stop('SIGTERM');
    expect(code).toBe(0);
    // The invoice was sent and recorded before the process exited.
    expect(api.calls.filter((c) => c.method === 'sendPhoto' && Number(c.params.chat_id) === B)).toHaveLength(1);
    const rows =
      await sql`SELECT o.status, p.id AS payment, m.message_id FROM orders o JOIN users u ON u.id = o.user_id JOIN payments p ON p.order_id = o.id JOIN invoice_messages m ON m.payment_id = p.id WHERE u.telegram_id = ${B}`;
    expect(rows).toHaveLength(1);
    expect(bot.lines.some((l) => /\[INFO\] Bot stopped/.test(l))).toBe(true);
    const hb = readHeartbeat(path.join(t.dir, 'state'));
    expect(hb?.stopped_at).toBeDefined();

    gw.createDelayMs = 0;
    const again = await start(t);
    say(B, '/start');
    await api.waitForCall((c) => sentTo(B, /Selamat datang/)(c));
    await new Promise((r) => setTimeout(r, 300));
    const [n] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM orders o JOIN users u ON u.id = o.user_id WHERE u.telegram_id = ${B}`;
    expect(Number(n!.n)).toBe(1);
    expect(again.lines.some((l) => /ERROR/.test(l))).toBe(false);
  });

  it('its .env gone while botctl recovers: waits behind the fence for it instead of exiting (a supervisor would give up), starts once it is back', async () => {
    const { t } = await shop();
    const saved = `${t.envFile}.saved`;
    fs.renameSync(t.envFile, saved);
    // botctl recover's fence, in the tenant's default state folder (the .env that names another is gone).
    const fence = raiseFence(path.join(t.dir, 'state'), { command: 'recover', database: t.dbName });
    const lines: string[] = [];
    const child = spawn(process.execPath, ['--', BOT_MAIN, '--env-file', t.envFile], {
      cwd: t.dir,
      env: { PATH: process.env.PATH ?? '', TZ: 'UTC', HOME: '/tmp' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const feed = (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    const until = async (re: RegExp, ms = 20_000) => {
      const deadline = Date.now() + ms;
      while (!lines.some((l) => re.test(l))) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no line matching ${re}; output:\n${lines.join('\n')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await until(/\[maintenance\] database "[^"]+" is being restored by botctl recover .*waiting for .*\.env/);
      await new Promise((r) => setTimeout(r, 1500));
      expect(child.exitCode).toBeNull();
      // recover puts the .env back: the bot reads it and waits on behind the same fence.
      fs.renameSync(saved, t.envFile);
      await until(/\[maintenance\] database "[^"]+" is being restored by botctl recover .*not migrating or serving until it is done/);
      fence.release();
      await until(/Bot @\S+ started/);
    } finally {
      fence.release();
      child.kill('SIGTERM');
      await exited;
    }

    // The fence gone and the .env still missing: the one-line configuration error and exit 3, as before.
    fs.renameSync(t.envFile, saved);
    const again = raiseFence(path.join(t.dir, 'state'), { command: 'recover', database: t.dbName });
    const run = new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const c = execFile(
        process.execPath,
        ['--', BOT_MAIN, '--env-file', t.envFile],
        { cwd: t.dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', TZ: 'UTC' }, timeout: 30_000 },
        (_e, _o, stderr) => resolve({ status: c.exitCode, stderr }),
      );
    });
    await new Promise((r) => setTimeout(r, 1500));
    again.release();
    const r = await run;
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^bot: invalid configuration: cannot read env file .*\.env: no such file\n {2}hint: /m);
  });

  it('refuses to start with a clear one-line error and exit 3 when Telegram rejects the token or a setting is missing', async () => {
    const { t } = await shop({ TELEGRAM_BOT_TOKEN: '7033333333:AAHrevokedTokenForTests_ccccccccccc' });
    // Asynchronously: the fake Bot API lives in this process and must keep answering.
    const run = () =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = execFile(
          process.execPath,
          ['--', BOT_MAIN, '--env-file', t.envFile],
          { cwd: t.dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', TZ: 'UTC' }, timeout: 30_000 },
          (_e, stdout, stderr) => resolve({ status: child.exitCode, stdout, stderr }),
        );
      });
    let r = await run();
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^bot: invalid configuration: Telegram rejected TELEGRAM_BOT_TOKEN \(401 Unauthorized\)\n {2}hint: /);
    expect(r.stdout + r.stderr).not.toContain('revoked-token');
    t.setEnv({ TELEGRAM_BOT_TOKEN: SHOP_TOKEN, DATA_ENCRYPTION_KEY: undefined });
    r = await run();
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/DATA_ENCRYPTION_KEY is not set/);
  });
});
