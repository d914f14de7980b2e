import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A Telegram Bot API server of our own on 127.0.0.1: answers like api.telegram.org for the
 * methods botctl and the bot use, records every call, and can be told to answer 429 with
 * `retry_after`, 403, 500, or to hang. Point TELEGRAM_API_ROOT (or Telegraf's apiRoot) at `url`.
 */
/** Well-formed bot tokens for tests: the shop bot and the owners' notification bot. */
export const FAKE_SHOP_TOKEN = '7012345678:AAHshopTokenForTests_aaaaaaaaaaaaaa';
export const FAKE_OWNER_TOKEN = '7087654321:AAHownerTokenForTests_bbbbbbbbbbbbb';

export interface FakeBotCall {
  token: string;
  method: string;
  params: Record<string, unknown>;
  /** Names of uploaded files for multipart calls (sendPhoto with a buffer). */
  files: string[];
  at: number;
}

export type FakeBehaviour =
  | { status: 429; retryAfter: number }
  | { status: 400 | 401 | 403 | 404 | 500 | 502; description?: string }
  | { hang: true }
  | { result: unknown };

export interface FakeBotApi {
  url: string;
  calls: FakeBotCall[];
  /** Calls of one method (optionally for one token). */
  callsTo(method: string, token?: string): FakeBotCall[];
  /** Queue answers for a method; each call takes the next one, then defaults resume. */
  queue(method: string, ...behaviours: FakeBehaviour[]): void;
  /** Answer every call of a method this way until cleared with `always(method, undefined)`. */
  always(method: string, behaviour: FakeBehaviour | undefined): void;
  /** Answer a method per chat: e.g. 403 for one owner only. */
  forChat(chatId: number, behaviour: FakeBehaviour | undefined): void;
  /** Updates handed out by getUpdates (long polling), in order. */
  pushUpdate(update: Record<string, unknown>): void;
  /** Resolves when a call matching `pred` has arrived (polling the record). */
  waitForCall(pred: (c: FakeBotCall) => boolean, timeoutMs?: number): Promise<FakeBotCall>;
  reset(): void;
  close(): Promise<void>;
}

export interface FakeBotApiOptions {
  /** Tokens that exist; any other gets 401 Unauthorized. Default: any well-formed token. */
  tokens?: string[];
  botUsername?: string;
}

export async function startFakeBotApi(opts: FakeBotApiOptions = {}): Promise<FakeBotApi> {
  const calls: FakeBotCall[] = [];
  const queues = new Map<string, FakeBehaviour[]>();
  const standing = new Map<string, FakeBehaviour>();
  const perChat = new Map<number, FakeBehaviour>();
  const updates: Record<string, unknown>[] = [];
  const pollers: (() => void)[] = [];
  const sockets = new Set<Socket>();
  let nextMessageId = 1000;
  let nextUpdateId = 1;

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const fail = (res: http.ServerResponse, status: number, description: string, extra: Record<string, unknown> = {}) =>
    send(res, status, { ok: false, error_code: status, description, ...extra });

  const defaultResult = (token: string, method: string, params: Record<string, unknown>): unknown => {
    const botId = Number(token.split(':')[0]);
    const chat = { id: Number(params.chat_id ?? 0), type: 'private' };
    const message = (extra: Record<string, unknown>) => ({ message_id: nextMessageId++, date: Math.floor(Date.now() / 1000), chat, ...extra });
    switch (method) {
      case 'getMe':
        return { id: botId, is_bot: true, first_name: 'Fake Bot', username: opts.botUsername ?? `fake_${botId}_bot`, can_join_groups: false };
      case 'sendMessage':
        return message({ text: params.text });
      case 'sendPhoto':
        return message({
          photo: [{ file_id: `photo-${nextMessageId}`, file_unique_id: `u${nextMessageId}`, width: 512, height: 512 }],
          caption: params.caption,
        });
      case 'sendDocument':
        return message({ document: { file_id: `doc-${nextMessageId}`, file_unique_id: `d${nextMessageId}` }, caption: params.caption });
      case 'editMessageText':
        return message({ message_id: Number(params.message_id), text: params.text });
      case 'editMessageCaption':
        return message({ message_id: Number(params.message_id), caption: params.caption });
      case 'forwardMessage':
      case 'copyMessage':
        return method === 'copyMessage' ? { message_id: nextMessageId++ } : message({});
      case 'getFile':
        return { file_id: params.file_id, file_unique_id: 'f', file_size: 10, file_path: `photos/${String(params.file_id)}.jpg` };
      default:
        return true;
    }
  };

  const apply = (res: http.ServerResponse, b: FakeBehaviour) => {
    if ('hang' in b) return; // left open until close()
    if ('result' in b) return send(res, 200, { ok: true, result: b.result });
    if (b.status === 429) return fail(res, 429, `Too Many Requests: retry after ${b.retryAfter}`, { parameters: { retry_after: b.retryAfter } });
    const defaults: Record<number, string> = {
      400: 'Bad Request: chat not found',
      401: 'Unauthorized',
      403: 'Forbidden: bot was blocked by the user',
      404: 'Not Found',
      500: 'Internal Server Error',
      502: 'Bad Gateway',
    };
    return fail(res, b.status, b.description ?? defaults[b.status]!);
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const file = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (file && req.method === 'GET') {
      calls.push({ token: file[1]!, method: 'downloadFile', params: { file_path: file[2] }, files: [], at: Date.now() });
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      return res.end(Buffer.from(`fake file ${file[2]}`));
    }
    const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
    if (!m) return fail(res, 404, 'Not Found');
    const [, token, method] = m as unknown as [string, string, string];
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const params: Record<string, unknown> = Object.fromEntries(url.searchParams);
    const files: string[] = [];
    const type = req.headers['content-type'] ?? '';
    try {
      if (type.startsWith('application/json') && raw.length) Object.assign(params, JSON.parse(raw.toString('utf8')));
      else if (type.startsWith('application/x-www-form-urlencoded')) Object.assign(params, Object.fromEntries(new URLSearchParams(raw.toString('utf8'))));
      else if (type.startsWith('multipart/form-data')) {
        const form = await new Request('http://x/', { method: 'POST', headers: { 'content-type': type }, body: raw }).formData();
        for (const [k, v] of form as unknown as Iterable<[string, string | { name: string; size: number }]>) {
          if (typeof v === 'string') params[k] = /^[[{]/.test(v) ? safeJson(v) : v;
          else {
            files.push(k);
            params[k] = { file: v.name, size: v.size };
          }
        }
      }
    } catch {
      return fail(res, 400, 'Bad Request: cannot parse parameters');
    }
    calls.push({ token, method, params, files, at: Date.now() });
    if (!/^\d+:[A-Za-z0-9_-]+$/.test(token) || (opts.tokens && !opts.tokens.includes(token))) return fail(res, 401, 'Unauthorized');

    const queued = queues.get(method);
    const b = queued?.length ? queued.shift()! : standing.get(method);
    if (b) return apply(res, b);
    const chat = params.chat_id === undefined ? undefined : perChat.get(Number(params.chat_id));
    if (chat) return apply(res, chat);

    if (method === 'getUpdates') {
      const offset = Number(params.offset ?? 0);
      // Like Telegram: asking for `offset` confirms every update before it; they are gone.
      if (offset > 0) for (let i = updates.length - 1; i >= 0; i--) if (Number(updates[i]!.update_id) < offset) updates.splice(i, 1);
      const take = () => updates.filter((u) => Number(u.update_id) >= offset);
      const ready = take();
      if (ready.length || !Number(params.timeout)) return send(res, 200, { ok: true, result: ready });
      // Long polling: wait for an update, at most `timeout` seconds (capped to keep tests fast).
      const timer = setTimeout(() => done(), Math.min(Number(params.timeout), 2) * 1000);
      const done = () => {
        clearTimeout(timer);
        const i = pollers.indexOf(done);
        if (i >= 0) pollers.splice(i, 1);
        if (!res.writableEnded) send(res, 200, { ok: true, result: take() });
      };
      pollers.push(done);
      return;
    }
    return send(res, 200, { ok: true, result: defaultResult(token, method, params) });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    callsTo: (method, token) => calls.filter((c) => c.method === method && (token === undefined || c.token === token)),
    queue: (method, ...bs) => queues.set(method, [...(queues.get(method) ?? []), ...bs]),
    always: (method, b) => (b ? standing.set(method, b) : standing.delete(method)),
    forChat: (chatId, b) => (b ? perChat.set(chatId, b) : perChat.delete(chatId)),
    pushUpdate: (u) => {
      updates.push({ update_id: nextUpdateId++, ...u });
      for (const p of [...pollers]) p();
    },
    waitForCall: async (pred, timeoutMs = 10_000) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const hit = calls.find(pred);
        if (hit) return hit;
        if (Date.now() > end)
          throw new Error(`fake Bot API: no matching call within ${timeoutMs} ms (got: ${calls.map((c) => c.method).join(', ') || 'none'})`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    reset: () => {
      calls.length = 0;
      updates.length = 0;
      queues.clear();
      standing.clear();
      perChat.clear();
    },
    close: async () => {
      for (const p of [...pollers]) p();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function safeJson(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/** Tenant settings that point the shop bot and the notification bot at this fake server. */
export function fakeTelegramEnv(api: Pick<FakeBotApi, 'url'>, ownerIds: number | string): Record<string, string> {
  return {
    TELEGRAM_BOT_TOKEN: FAKE_SHOP_TOKEN,
    OWNER_BOT_TOKEN: FAKE_OWNER_TOKEN,
    TELEGRAM_OWNER_IDS: String(ownerIds),
    TELEGRAM_API_ROOT: api.url,
  };
}
