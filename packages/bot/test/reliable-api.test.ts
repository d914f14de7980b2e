import { BotApiError, HttpBotApi, ReliableBotApi, Secret } from '@botctl/core';
import { FAKE_SHOP_TOKEN, type FakeBotApi, startFakeBotApi } from '@botctl/test-utils';

let api: FakeBotApi;
beforeAll(async () => {
  api = await startFakeBotApi();
});
afterEach(() => api.reset());
afterAll(() => api.close());

const client = (opts: ConstructorParameters<typeof ReliableBotApi>[1] = {}) =>
  new ReliableBotApi(new HttpBotApi({ token: new Secret(FAKE_SHOP_TOKEN), apiRoot: api.url, timeoutMs: 2000 }), opts);

describe('ReliableBotApi (against the fake Bot API server)', () => {
  it("waits Telegram's retry_after on 429 and sends once it is allowed", async () => {
    api.queue('sendMessage', { status: 429, retryAfter: 1 });
    const t0 = Date.now();
    const msg = await client().call<{ message_id: number }>('sendMessage', { chat_id: 1, text: 'halo' });
    expect(msg.message_id).toBeGreaterThan(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(api.callsTo('sendMessage')).toHaveLength(2);
  });

  it('retries 5xx, but gives up after its attempts and never retries a 403', async () => {
    api.queue('sendMessage', { status: 502 }, { status: 500 });
    await expect(client().call('sendMessage', { chat_id: 1, text: 'a' })).resolves.toBeDefined();
    api.always('sendMessage', { status: 500 });
    await expect(client({ attempts: 2 }).call('sendMessage', { chat_id: 1, text: 'b' })).rejects.toThrow(BotApiError);
    api.always('sendMessage', { status: 403 });
    const before = api.callsTo('sendMessage').length;
    await expect(client().call('sendMessage', { chat_id: 1, text: 'c' })).rejects.toMatchObject({ kind: 'forbidden' });
    expect(api.callsTo('sendMessage').length - before).toBe(1);
  });

  it('paces sends per chat (a burst, then one per interval) without slowing other chats', async () => {
    const c = client({ chatBurst: 2, chatIntervalMs: 300 });
    const t0 = Date.now();
    await Promise.all([1, 2, 3, 4].map((i) => c.call('sendMessage', { chat_id: 42, text: `m${i}` })));
    const oneChat = Date.now() - t0;
    expect(oneChat).toBeGreaterThanOrEqual(550);
    // Order kept within the chat.
    expect(api.callsTo('sendMessage').map((x) => x.params.text)).toEqual(['m1', 'm2', 'm3', 'm4']);
    const t1 = Date.now();
    await Promise.all([100, 101, 102, 103].map((chat) => c.call('sendMessage', { chat_id: chat, text: 'x' })));
    expect(Date.now() - t1).toBeLessThan(300);
  });
});
