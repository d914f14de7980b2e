import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A Pakasir-compatible payment gateway on 127.0.0.1 for tests: `POST /api/transactioncreate/qris`,
 * `GET /api/transactiondetail` and `POST /api/transactioncancel`, with the buyer's payment simulated by `pay()`. Point
 * PAKASIR_BASE_URL at `url`.
 */
export interface FakeTransaction {
  project: string;
  order_id: string;
  amount: number;
  fee: number;
  total_payment: number;
  payment_number: string;
  status: 'pending' | 'completed' | 'expired' | 'canceled';
  expired_at: string;
  completed_at: string | null;
  /** The amount transactiondetail reports, when a test wants it to differ from what was asked. */
  reported_amount?: number;
}

export interface FakeGateway {
  url: string;
  project: string;
  apiKey: string;
  transactions: Map<string, FakeTransaction>;
  requests: { method: string; path: string; query: Record<string, string>; body: unknown }[];
  /** The buyer pays: the gateway now reports the transaction completed. */
  pay(orderId: string): FakeTransaction;
  /** The next creates wait this long before answering (a slow gateway). */
  createDelayMs: number;
  /** The next N creates fail with HTTP 500. */
  failCreates: number;
  /** Validity of new invoices. */
  expiresInMs: number;
  /** Resolves when a create for some order arrives. */
  waitForCreate(timeoutMs?: number): Promise<FakeTransaction>;
  /** Posts Pakasir's webhook body for `orderId` to the bot (the body claims "completed"). */
  notify(webhookUrl: string, orderId: string, overrides?: Record<string, unknown>): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
}

export async function startFakeGateway(opts: { project?: string; apiKey?: string } = {}): Promise<FakeGateway> {
  const project = opts.project ?? 'toko-test';
  const apiKey = opts.apiKey ?? 'pk_test_0123456789abcdef';
  const transactions = new Map<string, FakeTransaction>();
  const requests: FakeGateway['requests'] = [];
  const sockets = new Set<Socket>();
  const waiters: ((t: FakeTransaction) => void)[] = [];

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const gw: FakeGateway = {
    url: '',
    project,
    apiKey,
    transactions,
    requests,
    createDelayMs: 0,
    failCreates: 0,
    expiresInMs: 15 * 60_000,
    pay(orderId) {
      const t = transactions.get(orderId);
      if (!t) throw new Error(`fake gateway: no transaction ${orderId}`);
      t.status = 'completed';
      t.completed_at = new Date().toISOString();
      return t;
    },
    waitForCreate(timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('fake gateway: no create request in time')), timeoutMs);
        waiters.push((t) => {
          clearTimeout(timer);
          resolve(t);
        });
      });
    },
    async notify(webhookUrl, orderId, overrides = {}) {
      const t = transactions.get(orderId);
      const body = {
        amount: t?.amount ?? 0,
        order_id: orderId,
        project,
        status: 'completed',
        payment_method: 'qris',
        completed_at: new Date().toISOString(),
        ...overrides,
      };
      const res = await fetch(webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // keep text
      }
      return { status: res.status, body: parsed };
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Record<string, unknown> = {};
    try {
      body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
    } catch {
      return send(res, 400, { message: 'invalid JSON' });
    }
    const query = Object.fromEntries(url.searchParams);
    requests.push({ method: req.method ?? '', path: url.pathname, query, body });

    if (req.method === 'POST' && url.pathname === '/api/transactioncreate/qris') {
      if (body.project !== project || body.api_key !== apiKey) return send(res, 401, { message: 'invalid project or api_key' });
      const amount = Number(body.amount);
      const orderId = String(body.order_id ?? '');
      if (!orderId || !Number.isInteger(amount) || amount <= 0) return send(res, 400, { message: 'order_id and amount required' });
      if (gw.createDelayMs) await new Promise((r) => setTimeout(r, gw.createDelayMs));
      if (gw.failCreates > 0) {
        gw.failCreates--;
        return send(res, 500, { message: 'internal error' });
      }
      const fee = 310 + Math.ceil(amount * 0.007);
      const t: FakeTransaction = {
        project,
        order_id: orderId,
        amount,
        fee,
        total_payment: amount + fee,
        payment_number: `00020101021226670016COM.NOBUBANK.WWW01189360050300000898240214${orderId}5204549953033605405${amount}5802ID6304ABCD`,
        status: 'pending',
        expired_at: new Date(Date.now() + gw.expiresInMs).toISOString(),
        completed_at: null,
      };
      transactions.set(orderId, t);
      for (const w of waiters.splice(0)) w(t);
      return send(res, 200, {
        payment: {
          project,
          order_id: orderId,
          amount,
          fee,
          total_payment: t.total_payment,
          payment_method: 'qris',
          payment_number: t.payment_number,
          expired_at: t.expired_at,
        },
      });
    }
    if (req.method === 'GET' && url.pathname === '/api/transactiondetail') {
      if (query.project !== project || query.api_key !== apiKey) return send(res, 401, { message: 'invalid project or api_key' });
      const t = transactions.get(query.order_id ?? '');
      if (!t || t.amount !== Number(query.amount)) return send(res, 404, { message: 'transaction not found' });
      if (t.status === 'pending' && Date.parse(t.expired_at) < Date.now()) t.status = 'expired';
      return send(res, 200, {
        transaction: {
          amount: t.reported_amount ?? t.amount,
          order_id: t.order_id,
          project,
          status: t.status,
          payment_method: 'qris',
          completed_at: t.completed_at,
        },
      });
    }
    if (req.method === 'POST' && url.pathname === '/api/transactioncancel') {
      if (body.project !== project || body.api_key !== apiKey) return send(res, 401, { message: 'invalid project or api_key' });
      const t = transactions.get(String(body.order_id ?? ''));
      if (!t || t.amount !== Number(body.amount)) return send(res, 404, { message: 'transaction not found' });
      if (t.status === 'completed') return send(res, 400, { message: 'transaction already completed' });
      t.status = 'canceled';
      return send(res, 200, { success: true });
    }
    return send(res, 404, { message: 'not found' });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  gw.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return gw;
}
