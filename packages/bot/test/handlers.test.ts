import {
  type BotApi,
  createSql,
  FieldCipher,
  FixedClock,
  type GatewayInvoice,
  loadConfig,
  type PaymentGateway,
  Secret,
  type Sql,
  silentLogger,
} from '@botctl/core';
import { createTenant, type EphemeralCluster, makeTempDir, removeDir, startEphemeralCluster, type Tenant } from '@botctl/test-utils';
import type { Update } from 'telegraf/types';
import { decodeButton } from '../src/buttons.js';
import { createBot, type ShopBot } from '../src/create-bot.js';

// The bot's handlers in this process, through createBot(deps): a real database, a Bot API that
// records calls in memory, no Telegram and no HTTP. The end-to-end suite runs the bot process.

const OWNER = 9001;
let cluster: EphemeralCluster;
let work: string;
let t: Tenant;
let sql: Sql;

beforeAll(async () => {
  work = makeTempDir('botctl-handlers-');
  cluster = await startEphemeralCluster({ parentDir: work });
  t = await createTenant({ cluster, parentDir: work, extraEnv: { TELEGRAM_OWNER_IDS: String(OWNER), BOT_RATE_LIMIT_PER_MINUTE: '5' } });
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

function harness(clock = new FixedClock(new Date())): { bot: ShopBot; calls: Call[]; owner: string[] } {
  const calls: Call[] = [];
  const owner: string[] = [];
  let messageId = 100;
  const api: BotApi = {
    async call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
      calls.push({ method, params });
      return (method.startsWith('send') ? { message_id: messageId++ } : true) as T;
    },
  };
  const gateway: PaymentGateway = {
    async createQris(req: { orderId: string; amount: number }): Promise<GatewayInvoice> {
      return {
        orderId: req.orderId,
        amount: req.amount,
        totalPayment: req.amount + 500,
        qrisString: `QRIS-${req.orderId}`,
        expiresAt: new Date(Date.now() + 900_000),
      };
    },
  } as unknown as PaymentGateway;
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
    downloadFile: async () => Buffer.alloc(0),
    owner: { stats: async () => 'STATS', health: async () => 'HEALTH', backup: async () => 'BACKUP' },
  });
  return { bot, calls, owner };
}

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
