import { parseConfig } from '../config/schema.js';
import { type BotApi, BotApiError, fitTelegramText } from './bot-api.js';
import { OwnerAlerter } from './owner-alerts.js';

const config = (env: Record<string, string> = {}) => {
  const r = parseConfig(
    { TELEGRAM_OWNER_IDS: '1,2', BOT_STORE_NAME: 'Toko A', OWNER_BOT_TOKEN: '7012345679:AAHownerAlertsTestToken_eeeeeeeeeee', ...env },
    { baseDir: '/tmp' },
  );
  if (!r.ok) throw new Error(r.problems.join('; '));
  return r.config;
};

function fakeApi(answer: (chatId: number, attempt: number) => unknown): BotApi & { sent: { chat: number; text: string }[] } {
  const attempts = new Map<number, number>();
  const sent: { chat: number; text: string }[] = [];
  return {
    sent,
    async call<T>(_method: string, params: Record<string, unknown> = {}): Promise<T> {
      const chat = Number(params.chat_id);
      const n = (attempts.get(chat) ?? 0) + 1;
      attempts.set(chat, n);
      const a = answer(chat, n);
      if (a instanceof Error) throw a;
      sent.push({ chat, text: String(params.text) });
      return a as T;
    },
  };
}

describe('fitTelegramText', () => {
  it('keeps short text, cuts long text to 4096 with an ellipsis, never splitting a surrogate pair', () => {
    expect(fitTelegramText('halo')).toBe('halo');
    const cut = fitTelegramText('a'.repeat(5000));
    expect(cut).toHaveLength(4096);
    expect(cut.endsWith('…')).toBe(true);
    const emoji = fitTelegramText(`${'a'.repeat(4094)}😀😀`);
    expect(emoji.length).toBeLessThanOrEqual(4096);
    expect(emoji).toBe(`${'a'.repeat(4094)}…`);
  });
});

describe('OwnerAlerter', () => {
  it('ENABLE_OWNER_ALERTS=false: nothing is sent, and why is said (not accepted and ignored)', async () => {
    const api = fakeApi(() => ({ message_id: 1 }));
    const off = new OwnerAlerter({ config: config({ ENABLE_OWNER_ALERTS: 'false' }), api });
    expect(off.problem).toBe('owner alerts are switched off (ENABLE_OWNER_ALERTS=false)');
    expect(await off.send('halo')).toMatchObject({ ok: true, configured: false, problem: off.problem });
    expect(api.sent).toHaveLength(0);
    expect(config().alerts.enabled).toBe(true);
    expect(() => config({ ENABLE_OWNER_ALERTS: 'kadang' })).toThrow(/ENABLE_OWNER_ALERTS/);
  });

  it('prefixes the store name and cuts to the limit', async () => {
    const api = fakeApi(() => ({ message_id: 1 }));
    const d = await new OwnerAlerter({ config: config(), api }).send('x'.repeat(10_000));
    expect(d).toMatchObject({ ok: true, delivered: [1, 2], failed: [] });
    expect(api.sent[0]!.text.startsWith('[Toko A] xxx')).toBe(true);
    expect(api.sent[0]!.text).toHaveLength(4096);
  });

  it('explains 403 and chat-not-found, and reports a rejected token; none are retried', async () => {
    const api = fakeApi((chat) =>
      chat === 1
        ? new BotApiError('sendMessage', 'forbidden', { status: 403, description: 'Forbidden: bot was blocked by the user' })
        : new BotApiError('sendMessage', 'bad_request', { status: 400, description: 'Bad Request: chat not found' }),
    );
    const d = await new OwnerAlerter({ config: config(), api }).send('t');
    expect(d.ok).toBe(false);
    expect(d.failed.map((f) => f.reason)).toEqual([
      'the owner has not pressed /start on the notification bot (or blocked it): Telegram answered 403',
      'chat not found: the owner has not pressed /start on the notification bot, or the id is wrong',
    ]);
    const unauthorized = fakeApi(() => new BotApiError('sendMessage', 'unauthorized', { status: 401, description: 'Unauthorized' }));
    const u = await new OwnerAlerter({ config: config({ TELEGRAM_OWNER_IDS: '1' }), api: unauthorized }).send('t');
    expect(u.failed[0]!.reason).toBe("the notification bot's token was rejected (401): check OWNER_BOT_TOKEN");
  });

  it('waits retry_after on 429 and backs off on 5xx, within the budget', async () => {
    let clock = 0;
    const waits: number[] = [];
    const api = fakeApi((_chat, n) =>
      n === 1
        ? new BotApiError('sendMessage', 'rate_limited', { status: 429, retryAfter: 3 })
        : n < 4
          ? new BotApiError('sendMessage', 'server', { status: 502 })
          : { message_id: 1 },
    );
    const alerter = new OwnerAlerter({
      config: config({ TELEGRAM_OWNER_IDS: '1' }),
      api,
      now: () => clock,
      sleep: async (ms) => {
        waits.push(ms);
        clock += ms;
      },
    });
    expect((await alerter.send('t')).ok).toBe(true);
    expect(waits).toEqual([3000, 500, 1000]);
  });

  it('gives up when retry_after would exceed the budget', async () => {
    const api = fakeApi(() => new BotApiError('sendMessage', 'rate_limited', { status: 429, retryAfter: 120 }));
    const d = await new OwnerAlerter({ config: config({ TELEGRAM_OWNER_IDS: '1' }), api, budgetMs: 60_000, sleep: async () => {} }).send('t');
    expect(d.failed[0]!.reason).toBe('rate limited by Telegram (retry after 120 s) beyond the time allowed for this alert');
  });

  it('is "not configured" without owner ids or any token, and attempts nothing', async () => {
    const a = new OwnerAlerter({ config: config({ TELEGRAM_OWNER_IDS: '' }) });
    expect(a.configured).toBe(false);
    expect(await a.send('t')).toMatchObject({ ok: true, configured: false, problem: 'TELEGRAM_OWNER_IDS is empty' });
    const b = new OwnerAlerter({ config: config({ OWNER_BOT_TOKEN: '' }) });
    expect(b.problem).toBe('neither OWNER_BOT_TOKEN nor TELEGRAM_BOT_TOKEN is set');
  });
});
