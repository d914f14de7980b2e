import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { confirmPayment, type FulfilDeps, GatewayError, type Logger, type PaymentGateway, type Sql } from '@botctl/core';
import type { Update } from 'telegraf/types';

export const PAYMENT_WEBHOOK_PATH = '/webhook/pakasir';
export const TELEGRAM_WEBHOOK_PATH = '/webhook/telegram';

export interface HttpDeps {
  sql: Sql;
  gateway: PaymentGateway;
  log: Logger;
  fulfil: FulfilDeps;
  /** Telegram webhook mode: the secret Telegram sends back in X-Telegram-Bot-Api-Secret-Token. */
  telegramSecret: string | undefined;
  onTelegramUpdate: ((u: Update) => Promise<void>) | undefined;
  startedAt: Date;
  /** True while the maintenance fence is up: payment notices get 503 (the gateway retries; expiry re-checks). */
  paused?: () => boolean;
}

const MAX_BODY = 64 * 1024;
const ORDER_ID = /^[A-Za-z0-9_-]{1,64}$/;

async function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) return undefined;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function reply(res: http.ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * 413 and the connection closed: the rest of the body is still on it, unread, and the next request
 * on a kept-alive connection would wait behind it for ever.
 */
function tooLarge(res: http.ServerResponse, body: object): void {
  res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
  res.end(JSON.stringify(body));
}

function sameSecret(given: string | undefined, expected: string): boolean {
  if (!given) return false;
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

/**
 * The bot's HTTP endpoint (127.0.0.1 by default; put a TLS reverse proxy in front):
 * - `POST /webhook/pakasir`: the gateway's payment notice. Only `order_id` is read from the body;
 *   the payment is confirmed by asking the gateway itself (status, amount, order), and applied
 *   once however often and however concurrently the notice arrives.
 * - `POST /webhook/telegram`: updates in webhook mode, accepted only with Telegram's secret token.
 * - `GET /healthz`: 200 while the process serves.
 * `close()` stops accepting connections and waits for requests being handled.
 */
export async function startHttpServer(deps: HttpDeps, host: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const active = new Set<Promise<void>>();
  const sockets = new Set<Socket>();

  const handlePayment = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (deps.paused?.()) return reply(res, 503, { ok: false, error: 'maintenance: the database is being restored; try again later' });
    const raw = await readBody(req);
    if (!raw) return tooLarge(res, { ok: false, error: 'body too large' });
    let orderId: unknown;
    try {
      orderId = (JSON.parse(raw.toString('utf8')) as { order_id?: unknown }).order_id;
    } catch {
      return reply(res, 400, { ok: false, error: 'body is not JSON' });
    }
    if (typeof orderId !== 'string' || !ORDER_ID.test(orderId)) return reply(res, 400, { ok: false, error: 'order_id missing or malformed' });
    let outcome;
    try {
      outcome = await confirmPayment({ ...deps.fulfil, gateway: deps.gateway }, orderId);
    } catch (error) {
      deps.log.error(`[payment] webhook ${orderId}: ${(error as Error).message}`);
      // The gateway retries its notices: tell it to when we could not check.
      return reply(res, error instanceof GatewayError ? 503 : 500, { ok: false, error: 'could not confirm the payment now' });
    }
    if (outcome.outcome === 'unknown_invoice') {
      deps.log.warn(`[payment] webhook for unknown invoice ${orderId}`);
      return reply(res, 404, { ok: false, outcome: outcome.outcome });
    }
    if (outcome.outcome === 'not_paid') deps.log.warn(`[payment] webhook ${orderId} ignored: gateway says ${outcome.gatewayStatus}`);
    return reply(res, 200, { ok: true, outcome: outcome.outcome });
  };

  const handleTelegram = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!deps.onTelegramUpdate || !deps.telegramSecret) return reply(res, 404, { ok: false });
    const given = req.headers['x-telegram-bot-api-secret-token'];
    if (!sameSecret(Array.isArray(given) ? given[0] : given, deps.telegramSecret)) {
      deps.log.warn(`Telegram webhook call without the right secret token from ${req.socket.remoteAddress}`);
      return reply(res, 401, { ok: false });
    }
    const raw = await readBody(req);
    if (!raw) return tooLarge(res, { ok: false });
    let update: Update;
    try {
      update = JSON.parse(raw.toString('utf8')) as Update;
    } catch {
      return reply(res, 400, { ok: false });
    }
    if (typeof update?.update_id !== 'number') return reply(res, 400, { ok: false });
    // Answer once handled: Telegram re-sends when we die mid-update.
    await deps.onTelegramUpdate(update);
    return reply(res, 200, { ok: true });
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const work = (async () => {
      try {
        if (req.method === 'POST' && url.pathname === PAYMENT_WEBHOOK_PATH) return await handlePayment(req, res);
        if (req.method === 'POST' && url.pathname === TELEGRAM_WEBHOOK_PATH) return await handleTelegram(req, res);
        if (req.method === 'GET' && url.pathname === '/healthz') {
          return reply(res, 200, { ok: true, uptime_seconds: Math.round((Date.now() - deps.startedAt.getTime()) / 1000) });
        }
        return reply(res, 404, { ok: false });
      } catch (error) {
        deps.log.error(`HTTP ${req.method} ${url.pathname}: ${(error as Error).message}`);
        if (!res.headersSent) reply(res, 500, { ok: false });
      }
    })();
    active.add(work);
    void work.finally(() => active.delete(work));
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`,
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      await Promise.all([...active]);
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
