import net from 'node:net';
import { createLogger } from '@botctl/core';
import { type HttpDeps, PAYMENT_WEBHOOK_PATH, startHttpServer, TELEGRAM_WEBHOOK_PATH } from './http-server.js';

const log = createLogger({ timeZone: 'UTC', sinks: [] });
const SECRET = 'webhook-secret-for-the-test';

// Nothing behind these is reached: a body too large is refused before it is read as JSON.
const deps = {
  sql: undefined,
  gateway: undefined,
  fulfil: undefined,
  log,
  telegramSecret: SECRET,
  onTelegramUpdate: async () => {},
  startedAt: new Date(),
} as unknown as HttpDeps;

/** Writes raw bytes on one connection; resolves with what came back once the server closes it, `until` matches, or after `ms`. */
function exchange(port: number, chunks: (string | Buffer)[], ms: number, until?: RegExp): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let text = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => done(false), ms);
    sock.on('data', (d) => {
      text += d.toString('latin1');
      if (until?.test(text)) done(false);
    });
    // The server may reset while we still write the body it will not read: that is a close too.
    sock.on('error', () => done(true));
    sock.on('close', () => done(true));
    for (const c of chunks) sock.write(c);
  });
}

describe('the bot HTTP endpoint', () => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  let port: number;
  beforeAll(async () => {
    server = await startHttpServer(deps, '127.0.0.1', 0);
    port = Number(new URL(server.url).port);
  });
  afterAll(() => server.close());

  it.each([
    ['the payment webhook', PAYMENT_WEBHOOK_PATH, ''],
    ['the Telegram webhook', TELEGRAM_WEBHOOK_PATH, `X-Telegram-Bot-Api-Secret-Token: ${SECRET}\r\n`],
  ])('answers 413 to a body too large on %s and closes the connection (a request after it on the same connection hung before)', async (_what, where, extra) => {
    const body = Buffer.alloc(200_000, 'a');
    const r = await exchange(
      port,
      [
        `POST ${where} HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n${extra}Content-Length: ${body.length}\r\n\r\n`,
        body,
        'GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n',
      ],
      3000,
    );
    expect(r.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(r.text).toMatch(/\r\nConnection: close\r\n/i);
    expect(r.closed).toBe(true);
    // Nothing read after the refused body as if it were the next request.
    expect(r.text).not.toMatch(/HTTP\/1\.1 200/);
  });

  it('keeps a connection for the next request after a normal answer', async () => {
    const r = await exchange(
      port,
      ['GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n', 'GET /nowhere HTTP/1.1\r\nHost: bot\r\n\r\n'],
      3000,
      /404[\s\S]*\r\n0\r\n\r\n$/,
    );
    expect(r.text).toMatch(/^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 404 /);
  });
});
