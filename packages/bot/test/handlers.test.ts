import {
  type BotApi,
  createSql,
  FieldCipher,
  FixedClock,
  type GatewayInvoice,
  GatewayError,
  type GatewayTransaction,
  loadConfig,
  type PaymentGateway,
  Secret,
  type Sql,
  silentLogger,
  checkOpenInvoices,
  SNK_CONTENT_CONTEXT,
  STOCK_SECRET_CONTEXT,
} from '@botctl/core';
import { createTenant, type EphemeralCluster, makeTempDir, removeDir, startEphemeralCluster, type Tenant } from '@botctl/test-utils';
import type { Update } from 'telegraf/types';
import { decodeButton } from '@botctl/core';
import { createBot, type ShopBot } from '../src/create-bot.js';

// The bot's handlers in this process, through createBot(deps): a real database, a Bot API that
// records calls in memory, no Telegram and no HTTP. The end-to-end suite runs the bot process.

const OWNER = 9001;
const ADMIN = 9002;
let cluster: EphemeralCluster;
let work: string;
let t: Tenant;
let sql: Sql;

beforeAll(async () => {
  work = makeTempDir('botctl-handlers-');
  cluster = await startEphemeralCluster({ parentDir: work });
  t = await createTenant({
    cluster,
    parentDir: work,
    extraEnv: { TELEGRAM_OWNER_IDS: String(OWNER), TELEGRAM_ADMIN_IDS: `${ADMIN},${OWNER}`, BOT_RATE_LIMIT_PER_MINUTE: '5' },
  });
  sql = createSql(t.databaseUrl, { max: 2 });
});
afterAll(async () => {
  await sql?.end({ timeout: 5 });
  await cluster?.destroy();
  removeDir(work);
});

interface Call {
  method: string;
  params: Record<string, unknown>;
}

/** The gateway as the handlers see it: what it was asked, and what it answers about each order. */
interface Gw {
  status: Map<string, GatewayTransaction['status']>;
  amounts: Map<string, number>;
  cancelled: string[];
  /** The next getTransaction calls fail (the gateway is down). */
  down: boolean;
}

function harness(clock = new FixedClock(new Date())): { bot: ShopBot; calls: Call[]; owner: string[]; gw: Gw; files: Map<string, Buffer>; api: BotApi } {
  const calls: Call[] = [];
  const owner: string[] = [];
  const files = new Map<string, Buffer>();
  const gw: Gw = { status: new Map(), amounts: new Map(), cancelled: [], down: false };
  let messageId = 100;
  const api: BotApi = {
    async call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
      calls.push({ method, params });
      return (method.startsWith('send') ? { message_id: messageId++ } : true) as T;
    },
  };
  const gateway: PaymentGateway = {
    name: 'test',
    async createQris(req: { orderId: string; amount: number }): Promise<GatewayInvoice> {
      gw.status.set(req.orderId, 'pending');
      gw.amounts.set(req.orderId, req.amount);
      return {
        orderId: req.orderId,
        amount: req.amount,
        totalPayment: req.amount + 500,
        qrisString: `QRIS-${req.orderId}`,
        expiresAt: new Date(Date.now() + 900_000),
      };
    },
    async getTransaction(req: { orderId: string; amount: number }): Promise<GatewayTransaction | undefined> {
      if (gw.down) throw new GatewayError('unreachable', 'test gateway: no answer within 15 s');
      const status = gw.status.get(req.orderId);
      if (!status) return undefined;
      return { orderId: req.orderId, amount: gw.amounts.get(req.orderId)!, status, completedAt: status === 'completed' ? new Date() : undefined };
    },
    async cancel(req: { orderId: string; amount: number }): Promise<void> {
      if (gw.status.get(req.orderId) === 'completed') throw new GatewayError('rejected', 'test gateway: transaction already completed');
      gw.status.set(req.orderId, 'canceled');
      gw.cancelled.push(req.orderId);
    },
    payUrl: (req: { orderId: string; amount: number }) => `https://pay.example/pay/toko/${req.amount}?order_id=${req.orderId}`,
  };
  const { config } = loadConfig({ envFile: t.envFile, cwd: t.dir, env: {} });
  const bot = createBot({
    config,
    sql,
    api,
    cipher: FieldCipher.fromSecret(new Secret(t.dataKey)),
    gateway,
    log: silentLogger,
    clock,
    botInfo: {
      id: 1,
      is_bot: true,
      first_name: 'Toko',
      username: 'toko_bot',
      can_join_groups: false,
      can_read_all_group_messages: false,
      supports_inline_queries: false,
    },
    notifyOwners: async (text) => owner.push(text),
    sendOwnersPhoto: async () => undefined,
    downloadFile: async (fileId) => {
      const f = files.get(fileId);
      if (!f) throw new Error(`no file ${fileId}`);
      return f;
    },
    owner: { stats: async () => 'STATS', health: async () => 'HEALTH', backup: async () => 'BACKUP' },
  });
  gateways.set(bot, gateway);
  return { bot, calls, owner, gw, files, api };
}
const gateways = new WeakMap<ShopBot, PaymentGateway>();
const gatewayOf = (h: { bot: ShopBot }) => gateways.get(h.bot)!;

let updateId = 1;
const from = (id: number) => ({ id, is_bot: false, first_name: `Pembeli${id}` });
const text = (chat: number, body: string): Update =>
  ({
    update_id: updateId++,
    message: {
      message_id: updateId,
      date: Math.floor(Date.now() / 1000),
      chat: { id: chat, type: 'private', first_name: 'x' },
      from: from(chat),
      text: body,
      ...(body.startsWith('/') ? { entities: [{ type: 'bot_command', offset: 0, length: body.split(' ')[0]!.length }] } : {}),
    },
  }) as Update;
const tap = (chat: number, data: string): Update =>
  ({
    update_id: updateId++,
    callback_query: {
      id: `cb${updateId}`,
      from: from(chat),
      chat_instance: 'x',
      data,
      message: { message_id: 1, date: Math.floor(Date.now() / 1000), chat: { id: chat, type: 'private', first_name: 'x' }, text: 'menu' },
    },
  }) as Update;
const buttonsOf = (c: Call) => ((c.params.reply_markup as { inline_keyboard?: { text: string; callback_data: string }[][] })?.inline_keyboard ?? []).flat();

describe('the shop bot handlers (in-process, createBot(deps))', () => {
  it('answers /start with the menu, and every button it shows decodes through the codec', async () => {
    const { bot, calls } = harness();
    await bot.handleUpdate(text(600_001, '/start'));
    const reply = calls.find((c) => c.method === 'sendMessage')!;
    expect(String(reply.params.text)).toMatch(/Selamat datang/);
    const buttons = buttonsOf(reply);
    expect(buttons.length).toBeGreaterThan(0);
    for (const b of buttons) expect(decodeButton(b.callback_data)).toBeDefined();
  });

  it('walks catalog → product → quantity by buttons, editing the same message', async () => {
    const { bot, calls } = harness();
    await bot.handleUpdate(tap(600_002, 'c:0'));
    const catalog = calls.find((c) => c.method === 'editMessageText')!;
    expect(String(catalog.params.text)).toMatch(/Daftar produk/);
    const product = buttonsOf(catalog).find((b) => decodeButton(b.callback_data)?.kind === 'product')!;
    await bot.handleUpdate(tap(600_002, product.callback_data));
    const view = calls.filter((c) => c.method === 'editMessageText').at(-1)!;
    expect(String(view.params.text)).toMatch(/Harga:/);
    const qty = buttonsOf(view).find((b) => decodeButton(b.callback_data)?.kind === 'quantity')!;
    await bot.handleUpdate(tap(600_002, qty.callback_data));
    const confirm = calls.filter((c) => c.method === 'editMessageText').at(-1)!;
    expect(String(confirm.params.text)).toMatch(/Konfirmasi pesanan/);
    expect(buttonsOf(confirm).map((b) => decodeButton(b.callback_data)?.kind)).toContain('buy');
  });

  it('answers a button it does not know (stale or forged) without touching anything', async () => {
    const { bot, calls } = harness();
    await bot.handleUpdate(tap(600_003, 'b:1:99999:q'));
    await bot.handleUpdate(tap(600_003, 'zz:1'));
    const answers = calls.filter((c) => c.method === 'answerCallbackQuery');
    expect(answers.map((a) => a.params.text)).toEqual([expect.any(String), 'Tombol ini sudah tidak berlaku. Ketik /start.']);
    expect(calls.some((c) => c.method === 'sendPhoto')).toBe(false);
    const [orders] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM orders o JOIN users u ON u.id = o.user_id WHERE u.telegram_id = 600003`;
    expect(Number(orders!.n)).toBe(0);
  });

  it('gives /stats to an owner, and to anyone else exactly what an unknown command gets', async () => {
    const { bot, calls } = harness();
    await bot.handleUpdate(text(OWNER, '/stats'));
    expect(calls.filter((c) => Number(c.params.chat_id) === OWNER).map((c) => c.params.text)).toContain('STATS');
    await bot.handleUpdate(text(600_004, '/stats'));
    await bot.handleUpdate(text(600_004, '/bogus'));
    const replies = calls.filter((c) => Number(c.params.chat_id) === 600_004).map((c) => c.params.text);
    expect(replies).toHaveLength(2);
    expect(replies[0]).toBe(replies[1]);
    expect(replies[0]).toMatch(/Perintah tidak dikenal/);
  });

  it('reads /deposit amounts as a buyer writes them, and says clearly what is wrong with one it cannot take', async () => {
    const { bot, calls } = harness();
    const reply = async (chat: number, body: string) => {
      await bot.handleUpdate(text(chat, body));
      return calls.filter((c) => Number(c.params.chat_id) === chat).map((c) => String(c.params.text ?? c.params.caption ?? ''));
    };
    // Two amounts were read as one (1000020000) and answered "Minimal deposit Rp10.000.".
    expect(await reply(600_010, '/deposit 10000 20000')).toEqual([expect.stringMatching(/^Tulis satu jumlah saja/)]);
    expect(await reply(600_011, '/deposit 200000000')).toEqual([expect.stringMatching(/^Maksimal deposit Rp100\.000\.000/)]);
    expect(await reply(600_012, '/deposit 5000')).toEqual([expect.stringMatching(/^Minimal deposit Rp10\.000/)]);
    expect(await reply(600_013, '/deposit 10.00')).toEqual([expect.stringMatching(/^Ketik \/deposit JUMLAH/)]);
    // Thousands with dots and a leading "Rp" are a buyer's usual way of writing an amount.
    for (const [chat, body] of [
      [600_014, '/deposit Rp25.000'],
      [600_015, '/deposit 1.500.000'],
      [600_016, '/deposit 25000'],
    ] as const) {
      await bot.handleUpdate(text(chat, body));
      expect(
        calls.some(
          (c) => Number(c.params.chat_id) === chat && /^send(Photo|Message)$/.test(c.method) && /Invoice DEP-/.test(String(c.params.caption ?? c.params.text)),
        ),
      ).toBe(true);
    }
  });

  it('slows down a buyer past BOT_RATE_LIMIT_PER_MINUTE, says so once, and serves the others', async () => {
    const { bot, calls } = harness();
    for (let i = 0; i < 8; i++) await bot.handleUpdate(text(600_005, '/start'));
    const toBuyer = calls.filter((c) => c.method === 'sendMessage' && Number(c.params.chat_id) === 600_005).map((c) => String(c.params.text));
    expect(toBuyer.filter((x) => /Selamat datang/.test(x))).toHaveLength(5);
    expect(toBuyer.filter((x) => /Terlalu banyak permintaan/.test(x))).toHaveLength(1);
    await bot.handleUpdate(text(600_006, '/start'));
    expect(calls.some((c) => Number(c.params.chat_id) === 600_006 && /Selamat datang/.test(String(c.params.text)))).toBe(true);
  });

  it('tells a limited buyer once how long to wait, and answers again once that time has passed', async () => {
    const clock = new FixedClock('2026-12-01T10:00:00Z');
    const { bot, calls } = harness(clock);
    const B = 600_007;
    const toBuyer = () => calls.filter((c) => c.method === 'sendMessage' && Number(c.params.chat_id) === B).map((c) => String(c.params.text));
    for (let i = 0; i < 5; i++) {
      await bot.handleUpdate(text(B, '/start'));
      clock.advance(1000);
    }
    // Hits at 0…4 s; at 10 s the oldest leaves the one-minute window at 60 s: 50 s to wait.
    clock.set('2026-12-01T10:00:10Z');
    await bot.handleUpdate(text(B, '/start'));
    await bot.handleUpdate(text(B, '/start'));
    expect(toBuyer().filter((x) => /Terlalu banyak/.test(x))).toEqual(['⏳ Terlalu banyak permintaan. Coba lagi dalam 50 detik.']);
    clock.set('2026-12-01T10:01:00.001Z');
    await bot.handleUpdate(text(B, '/start'));
    expect(toBuyer().filter((x) => /Selamat datang/.test(x))).toHaveLength(6);
  });
});

// ---------------------------------------------------------------------------------------------
// Running the shop from the bot, and a buyer who is never left guessing.

const message = (chat: number, body: Record<string, unknown>): Update =>
  ({
    update_id: updateId++,
    message: { message_id: updateId, date: Math.floor(Date.now() / 1000), chat: { id: chat, type: 'private', first_name: 'x' }, from: from(chat), ...body },
  }) as Update;

/** A harness whose clock moves 13 s before each update: under the 5-a-minute rate limit of this tenant. */
function paced() {
  const clock = new FixedClock(new Date());
  const h = harness(clock);
  const send = async (u: Update) => {
    clock.advance(13_000);
    await h.bot.handleUpdate(u);
  };
  const to = (chat: number) => h.calls.filter((c) => Number(c.params.chat_id) === chat);
  const textsTo = (chat: number) => to(chat).map((c) => String(c.params.text ?? c.params.caption ?? ''));
  const answers = () => h.calls.filter((c) => c.method === 'answerCallbackQuery').map((c) => String(c.params.text ?? ''));
  return { ...h, clock, send, to, textsTo, answers };
}

async function pid(code: string): Promise<number> {
  const [p] = await sql<{ id: number }[]>`SELECT id FROM products WHERE code = ${code}`;
  return p!.id;
}
async function availableOf(code: string): Promise<number> {
  const [r] = await sql<{ n: string }[]>`
    SELECT count(*) AS n FROM product_stock_items s JOIN products p ON p.id = s.product_id WHERE p.code = ${code} AND s.status = 'available'`;
  return Number(r!.n);
}

/** The buyer buys one of `code` by QRIS; returns the invoice's public id and photo call. */
async function buyByQris(h: ReturnType<typeof paced>, buyer: number, code: string): Promise<{ orderId: string; photo: Call }> {
  await h.send(tap(buyer, `b:${await pid(code)}:1:q`));
  const photo = h.to(buyer).findLast((c) => c.method === 'sendPhoto' && /Invoice INV-/.test(String(c.params.caption)))!;
  expect(photo).toBeDefined();
  return { orderId: /Invoice (INV-[A-Z0-9-]+)/.exec(String(photo.params.caption))![1]!, photo };
}

describe('running the shop from the bot (owners and admins), and the buyer’s invoice buttons', () => {
  it('tells the admins and owners of each new order and payment; "🔄 Cek status" asks the gateway and delivers at once', async () => {
    const h = paced();
    const B = 610_001;
    const { orderId, photo } = await buyByQris(h, B, 'SPT1');
    // The invoice carries its buttons: check now, cancel, and the gateway's pay page.
    const kb = (photo.params.reply_markup as { inline_keyboard: { text: string; callback_data?: string; url?: string }[][] }).inline_keyboard.flat();
    expect(kb.map((b) => b.text)).toEqual(['🔄 Cek status', '❌ Batalkan', '🌐 Buka halaman pembayaran']);
    expect(kb[2]!.url).toBe(`https://pay.example/pay/toko/25000?order_id=${orderId}`);
    // The admin hears of it from the shop bot; the owner (also listed as admin) once, from the notification bot.
    expect(h.textsTo(ADMIN).filter((t) => t.includes(orderId))).toEqual([expect.stringMatching(/^🆕 Pesanan baru .*Spotify.*menunggu pembayaran QRIS/)]);
    expect(h.textsTo(OWNER).filter((t) => t.includes(orderId))).toEqual([]);
    expect(h.owner.filter((t) => t.includes(orderId))).toEqual([expect.stringMatching(/^🆕 Pesanan baru/)]);

    // Not paid yet: the buyer is told so, nothing changes.
    await h.send(tap(B, kb[0]!.callback_data!));
    expect(h.answers().at(-1)).toMatch(/^Belum ada pembayaran masuk untuk INV-/);
    // Paid, the webhook lost: the tap asks the gateway and the goods arrive now, not at expiry.
    h.gw.status.set(orderId, 'completed');
    await h.send(tap(B, kb[0]!.callback_data!));
    expect(h.answers().at(-1)).toBe('✅ Pembayaran diterima.');
    expect(h.textsTo(B).some((t) => /spt1\d+@akun\.example/.test(t))).toBe(true);
    expect(h.calls.some((c) => c.method === 'deleteMessage' && Number(c.params.chat_id) === B)).toBe(true);
    expect(h.textsTo(ADMIN).filter((t) => t.includes(orderId))).toEqual([expect.stringMatching(/^🆕/), expect.stringMatching(/^💰 Pesanan .* lunas/)]);
    expect(h.owner.filter((t) => t.includes(orderId))).toHaveLength(2);
    // A second tap finds nothing open.
    await h.send(tap(B, kb[0]!.callback_data!));
    expect(h.answers().at(-1)).toBe('Invoice ini sudah tidak aktif.');
  });

  it('"❌ Batalkan" cancels at the gateway, releases the stock at once and takes the invoice out; a payment that beat it is delivered instead', async () => {
    const h = paced();
    const B = 610_002;
    const before = await availableOf('CNV1');
    const { orderId, photo } = await buyByQris(h, B, 'CNV1');
    expect(await availableOf('CNV1')).toBe(before - 1);
    const cancel = (photo.params.reply_markup as { inline_keyboard: { callback_data?: string }[][] }).inline_keyboard.flat()[1]!.callback_data!;
    await h.send(tap(B, cancel));
    expect(h.gw.cancelled).toEqual([orderId]);
    expect(await availableOf('CNV1')).toBe(before);
    const [o] = await sql<{ status: string }[]>`SELECT o.status FROM orders o WHERE o.public_id = ${orderId}`;
    expect(o!.status).toBe('cancelled');
    expect(h.calls.some((c) => c.method === 'deleteMessage' && Number(c.params.chat_id) === B)).toBe(true);
    expect(h.textsTo(B).at(-1)).toMatch(/^❌ Pesanan .* dibatalkan dan stoknya dikembalikan/);

    // Paid a moment before the tap: not cancelled, the goods are sent.
    const second = await buyByQris(h, B, 'CNV1');
    h.gw.status.set(second.orderId, 'completed');
    const cancel2 = (second.photo.params.reply_markup as { inline_keyboard: { callback_data?: string }[][] }).inline_keyboard.flat()[1]!.callback_data!;
    await h.send(tap(B, cancel2));
    expect(h.answers().at(-1)).toMatch(/Pembayaran diterima\. Invoice ini tidak dibatalkan/);
    const [o2] = await sql<{ status: string }[]>`SELECT status FROM orders WHERE public_id = ${second.orderId}`;
    expect(o2!.status).toBe('delivered');
    expect(h.gw.cancelled).toEqual([orderId]);
  });

  it('asks the gateway about open invoices on a backoff while they are open, so a lost webhook does not wait for the deadline', async () => {
    const h = paced();
    const B = 610_003;
    const { orderId } = await buyByQris(h, B, 'YTP1');
    const deps = {
      sql,
      api: h.api,
      cipher: FieldCipher.fromSecret(new Secret(t.dataKey)),
      log: silentLogger,
      notifyOwners: async () => undefined,
      gateway: gatewayOf(h),
    };
    const checks = async () =>
      (await sql<{ checks: number; next_check_at: Date | null }[]>`SELECT checks, next_check_at FROM payments WHERE gateway_order_id = ${orderId}`)[0]!;
    // Not yet a minute old: not asked. (Other open invoices of this shop may be.)
    await checkOpenInvoices(deps, new Date(Date.now() + 30_000));
    expect((await checks()).checks).toBe(0);
    const later = new Date(Date.now() + 61_000);
    await checkOpenInvoices(deps, later);
    expect((await checks()).checks).toBe(1);
    expect((await checks()).next_check_at!.getTime() - later.getTime()).toBe(120_000);
    // Asked again only when its turn comes; then it is paid and delivered before its deadline.
    await checkOpenInvoices(deps, new Date(later.getTime() + 60_000));
    expect((await checks()).checks).toBe(1);
    h.gw.status.set(orderId, 'completed');
    const r = await checkOpenInvoices(deps, new Date(later.getTime() + 121_000));
    expect(r.settled).toBeGreaterThanOrEqual(1);
    expect((await checks()).checks).toBe(2);
    const [o] = await sql<{ status: string }[]>`SELECT status FROM orders WHERE public_id = ${orderId}`;
    expect(o!.status).toBe('delivered');
    expect(h.textsTo(B).some((x) => /ytp1\d+@akun\.example/.test(x))).toBe(true);
  });

  it('/order shows an order to the staff (status, buyer, items, payment, delivery) with a button that sends the goods again; /stok counts stock', async () => {
    const h = paced();
    const B = 610_004;
    const { orderId } = await buyByQris(h, B, 'ML86');
    h.gw.status.set(orderId, 'completed');
    const photo = h.to(B).find((c) => c.method === 'sendPhoto')!;
    await h.send(tap(B, (photo.params.reply_markup as { inline_keyboard: { callback_data?: string }[][] }).inline_keyboard.flat()[0]!.callback_data!));
    const delivered = h.textsTo(B).filter((x) => /ml86\d+@akun\.example/.test(x));
    expect(delivered).toHaveLength(1);

    await h.send(text(ADMIN, `/order ${orderId.toLowerCase()}`));
    const detail = h.to(ADMIN).at(-1)!;
    expect(String(detail.params.text)).toMatch(
      new RegExp(
        `Pesanan ${orderId}[\\s\\S]*lunas, terkirim[\\s\\S]*Pembeli: ${B} Pembeli${B}\\nIsi: Mobile Legends 86 Diamond \\[ML86\\] ×1[\\s\\S]*Pembayaran: ${orderId}, completed[\\s\\S]*Terkirim:`,
      ),
    );
    expect(String(detail.params.text)).not.toMatch(/ml86\d+@akun/);
    const resend = buttonsOf(detail).find((b) => decodeButton(b.callback_data)?.kind === 'resend')!;
    await h.send(tap(ADMIN, resend.callback_data));
    expect(h.textsTo(B).filter((x) => /ml86\d+@akun\.example/.test(x))).toEqual([delivered[0], delivered[0]]);
    expect(h.textsTo(ADMIN).at(-1)).toMatch(/dikirim ulang ke pembeli 610004/);
    // A buyer who forges the staff's button gets what any stale button gets.
    await h.send(tap(B, resend.callback_data));
    expect(h.answers().at(-1)).toBe('Tombol ini sudah tidak berlaku. Ketik /start.');

    await h.send(text(OWNER, '/stok'));
    const stok = h.textsTo(OWNER).at(-1)!;
    expect(stok).toMatch(new RegExp(`<b>ML86</b> Mobile Legends 86 Diamond: ${await availableOf('ML86')} tersedia, \\d+ ditahan, \\d+ terjual`));
    // Everyone else: exactly what an unknown command gets.
    for (const cmd of ['/order INV-1', '/stok', '/blokir 1', '/buka 1', '/broadcast halo', '/admin']) await h.send(text(610_005, cmd));
    expect(new Set(h.textsTo(610_005))).toEqual(new Set(['Perintah tidak dikenal. Ketik /start untuk melihat menu.']));
  });

  it('takes stock as a .txt file with the product code as caption, encrypted as delivery reads it, duplicates skipped; explains what it cannot take', async () => {
    const h = paced();
    const before = await availableOf('SPT1');
    h.files.set('f1', Buffer.from('\uFEFFadmin-a@x:1\r\nadmin-b@x:2\n\nadmin-a@x:1\n'));
    const doc = (file_id: string, file_name: string, caption?: string) =>
      message(ADMIN, { document: { file_id, file_unique_id: file_id, file_name, mime_type: 'text/plain', file_size: 40 }, ...(caption ? { caption } : {}) });
    await h.send(doc('f1', 'stok.txt', 'SPT1'));
    expect(h.textsTo(ADMIN).at(-1)).toBe(`✅ Stok SPT1: 2 ditambahkan, 1 baris ganda dilewati. Tersedia sekarang: ${before + 2}.`);
    await h.send(doc('f1', 'stok.txt', 'SPT1'));
    expect(h.textsTo(ADMIN).at(-1)).toMatch(/^✅ Stok SPT1: 0 ditambahkan, 1 baris ganda dilewati, 2 sudah ada dilewati/);
    const cipher = FieldCipher.fromSecret(new Secret(t.dataKey));
    const secrets = await sql<{ secret_enc: string }[]>`
      SELECT s.secret_enc FROM product_stock_items s JOIN products p ON p.id = s.product_id WHERE p.code = 'SPT1' ORDER BY s.id DESC LIMIT 2`;
    expect(secrets.map((r) => cipher.decryptText(r.secret_enc, STOCK_SECRET_CONTEXT)).sort()).toEqual(['admin-a@x:1', 'admin-b@x:2']);

    await h.send(doc('f1', 'stok.txt'));
    expect(h.textsTo(ADMIN).at(-1)).toMatch(/^Tulis kode produk sebagai keterangan/);
    await h.send(doc('f1', 'stok.txt', 'NOPE9'));
    expect(h.textsTo(ADMIN).at(-1)).toBe('Tidak ada produk dengan kode NOPE9 (lihat /stok).');
    h.files.set('bin', Buffer.from([0xff, 0xfe, 0x00, 0xc3]));
    await h.send(doc('bin', 'stok.txt', 'SPT1'));
    expect(h.textsTo(ADMIN).at(-1)).toBe('Berkas stok harus teks UTF-8.');
    // A buyer's file is not stock: it gets the reply every non-text message gets.
    await h.send(message(610_006, { document: { file_id: 'f1', file_unique_id: 'f1', file_name: 'stok.txt', mime_type: 'text/plain' }, caption: 'SPT1' }));
    expect(h.textsTo(610_006)).toEqual([expect.stringMatching(/^Maaf, saya hanya membaca teks dan tombol/)]);
    expect(await availableOf('SPT1')).toBe(before + 2);
  });

  it('/blokir: the buyer is told once, politely, then ignored; /buka serves them again; staff cannot be blocked', async () => {
    const h = paced();
    const B = 610_007;
    await h.send(text(B, '/start'));
    await h.send(text(ADMIN, `/blokir ${B}`));
    expect(h.textsTo(ADMIN).at(-1)).toMatch(/^🚫 Pembeli 610007 diblokir/);
    await h.send(text(B, '/start'));
    await h.send(text(B, '/produk'));
    await h.send(tap(B, 'c:0'));
    expect(h.textsTo(B).slice(1)).toEqual([expect.stringMatching(/^🚫 Maaf, akun Anda tidak dapat berbelanja/)]);
    await h.send(text(ADMIN, `/blokir ${OWNER}`));
    expect(h.textsTo(ADMIN).at(-1)).toBe('Pemilik atau admin toko tidak bisa diblokir.');
    await h.send(text(ADMIN, '/blokir 777000111'));
    expect(h.textsTo(ADMIN).at(-1)).toBe('Pembeli 777000111 belum pernah menghubungi bot ini.');
    await h.send(text(OWNER, `/buka ${B}`));
    expect(h.textsTo(OWNER).at(-1)).toBe(`✅ Pembeli ${B} dibuka kembali.`);
    await h.send(text(B, '/start'));
    expect(h.textsTo(B).at(-1)).toMatch(/Selamat datang/);
  });

  it('SNK: the next text is not taken silently; the buyer taps "✅ Penuhi SNK", sees what is asked, answers and gets a confirmation', async () => {
    const h = paced();
    const B = 610_008;
    const { orderId } = await buyByQris(h, B, 'NFX1');
    h.gw.status.set(orderId, 'completed');
    const photo = h.to(B).find((c) => c.method === 'sendPhoto')!;
    await h.send(tap(B, (photo.params.reply_markup as { inline_keyboard: { callback_data?: string }[][] }).inline_keyboard.flat()[0]!.callback_data!));
    const prompt = h.to(B).find((c) => /^📝 <b>SNK Netflix/.test(String(c.params.text)))!;
    const snkButton = buttonsOf(prompt).find((b) => b.text === '✅ Penuhi SNK')!;
    expect(decodeButton(snkButton.callback_data)?.kind).toBe('terms');

    // Without the tap, a text is not the answer: the button is shown again.
    await h.send(text(B, 'halo kak'));
    expect(h.textsTo(B).at(-1)).toMatch(/menunggu SNK Netflix.*Tekan <b>✅ Penuhi SNK<\/b> dulu/);
    const [none] = await sql<
      { n: string }[]
    >`SELECT count(*) AS n FROM product_term_submissions s JOIN orders o ON o.id = s.order_id WHERE o.public_id = ${orderId}`;
    expect(Number(none!.n)).toBe(0);

    await h.send(tap(B, snkButton.callback_data));
    expect(h.textsTo(B).at(-1)).toMatch(/^📝 <b>SNK Netflix[\s\S]*Kirim jawaban Anda <b>sekarang<\/b>/);
    await h.send(text(B, 'email: pembeli@example.com'));
    expect(h.textsTo(B).at(-1)).toMatch(/^✅ Terima kasih, SNK untuk Netflix Premium 1 Bulan sudah kami terima/);
    expect(h.owner.some((x) => x.includes('email: pembeli@example.com'))).toBe(true);
    const [row] = await sql<{ content_enc: string }[]>`
      SELECT s.content_enc FROM product_term_submissions s JOIN orders o ON o.id = s.order_id WHERE o.public_id = ${orderId}`;
    expect(FieldCipher.fromSecret(new Secret(t.dataKey)).decryptText(row!.content_enc, SNK_CONTENT_CONTEXT)).toBe('email: pembeli@example.com');
    // Answered: the button says so, and the next text is an ordinary message.
    await h.send(tap(B, snkButton.callback_data));
    expect(h.answers().at(-1)).toBe('SNK pesanan ini sudah kami terima.');
  });

  it('answers stickers, voice and typed quantities clearly, and a quantity above the maximum with the maximum', async () => {
    const h = paced();
    const B = 610_009;
    await h.send(message(B, { sticker: { file_id: 's', file_unique_id: 's', type: 'regular', width: 512, height: 512, is_animated: false, is_video: false } }));
    await h.send(message(B, { voice: { file_id: 'v', file_unique_id: 'v', duration: 2 } }));
    expect(h.textsTo(B)).toEqual([expect.stringMatching(/^Maaf, saya hanya membaca teks dan tombol/), expect.stringMatching(/^Maaf, saya hanya membaca/)]);
    await h.send(text(B, '4'));
    expect(h.textsTo(B).at(-1)).toBe('Pilih jumlah dengan tombol di halaman produk. Ketik /produk untuk melihat produk.');
    await h.send(tap(B, `q:${await pid('SPT1')}:11`));
    await h.send(tap(B, `b:${await pid('SPT1')}:50:q`));
    expect(h.answers().slice(-2)).toEqual([
      'Jumlah maksimal per pesanan adalah 10. Untuk lebih banyak, buat beberapa pesanan.',
      'Jumlah maksimal per pesanan adalah 10. Untuk lebih banyak, buat beberapa pesanan.',
    ]);
  });
});
