import type { Secret } from '../secret.js';

/**
 * The payment gateway as the shop sees it: make a QRIS invoice, and read a transaction back.
 * Nothing a webhook body says is trusted; the shop always re-reads the transaction here.
 */
export interface PaymentGateway {
  readonly name: string;
  createQris(req: { orderId: string; amount: number }): Promise<GatewayInvoice>;
  /** The gateway's own record of the transaction; undefined when it does not know it. */
  getTransaction(req: { orderId: string; amount: number }): Promise<GatewayTransaction | undefined>;
  /**
   * Cancels an open transaction at the gateway, where it can: afterwards the buyer cannot pay it.
   * Absent when the gateway has no such call; a failure is a GatewayError (the shop cancels on its
   * side anyway and honours a payment that still arrives).
   */
  cancel?(req: { orderId: string; amount: number }): Promise<void>;
  /** The gateway's pay page for a transaction, when it has one (Pakasir: PAKASIR_PUBLIC_DOMAIN). */
  payUrl?(req: { orderId: string; amount: number }): string | undefined;
}

export interface GatewayInvoice {
  orderId: string;
  amount: number;
  /** What the buyer pays: amount plus the gateway's fee. */
  totalPayment: number;
  /** The QRIS payload to render as a QR code. */
  qrisString: string;
  expiresAt: Date;
}

export type GatewayStatus = 'pending' | 'completed' | 'expired' | 'canceled' | 'failed' | 'unknown';

export interface GatewayTransaction {
  orderId: string;
  amount: number;
  status: GatewayStatus;
  completedAt: Date | undefined;
}

export type GatewayFailure = 'unconfigured' | 'rejected' | 'unreachable' | 'malformed';

/** A gateway call that did not produce an answer we can use; never carries the API key or URL. */
export class GatewayError extends Error {
  readonly kind: GatewayFailure;
  constructor(kind: GatewayFailure, message: string) {
    super(message);
    this.name = 'GatewayError';
    this.kind = kind;
  }
}

export interface PakasirOptions {
  baseUrl: string;
  project: string | undefined;
  apiKey: Secret | undefined;
  timeoutMs: number;
  /** The pay page's origin (PAKASIR_PUBLIC_DOMAIN); no link without it. */
  publicDomain?: string | undefined;
}

const STATUS: Record<string, GatewayStatus> = {
  completed: 'completed',
  paid: 'completed',
  success: 'completed',
  pending: 'pending',
  expired: 'expired',
  canceled: 'canceled',
  cancelled: 'canceled',
  failed: 'failed',
};

/**
 * Pakasir (https://pakasir.com): `POST /api/transactioncreate/qris`, `GET /api/transactiondetail`,
 * `POST /api/transactioncancel`, and the pay page `<domain>/pay/<project>/<amount>?order_id=…`.
 * The API key travels in the body or query as Pakasir requires; it never reaches an error message.
 */
export class PakasirGateway implements PaymentGateway {
  readonly name = 'pakasir';
  readonly #o: PakasirOptions;

  constructor(options: PakasirOptions) {
    this.#o = { ...options, baseUrl: options.baseUrl.replace(/\/+$/, '') };
  }

  #credentials(): { project: string; apiKey: string } {
    if (!this.#o.project || !this.#o.apiKey) {
      throw new GatewayError('unconfigured', 'payment gateway is not configured: set PAKASIR_PROJECT_SLUG and PAKASIR_API_KEY');
    }
    return { project: this.#o.project, apiKey: this.#o.apiKey.reveal() };
  }

  async #request(path: string, init: RequestInit): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${this.#o.baseUrl}${path}`, { ...init, signal: AbortSignal.timeout(this.#o.timeoutMs) });
    } catch (error) {
      const e = error as { name?: string; cause?: { code?: string } };
      const why = e.name === 'TimeoutError' ? `no answer within ${this.#o.timeoutMs / 1000} s` : (e.cause?.code ?? 'network error');
      throw new GatewayError('unreachable', `Pakasir ${path.split('?')[0]}: ${why}`);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (res.status === 404) return undefined;
    if (!res.ok) {
      const kind: GatewayFailure = res.status >= 500 ? 'unreachable' : 'rejected';
      const detail = typeof (body as { message?: unknown })?.message === 'string' ? `: ${(body as { message: string }).message.slice(0, 200)}` : '';
      throw new GatewayError(kind, `Pakasir ${path.split('?')[0]} answered HTTP ${res.status}${detail}`);
    }
    if (body === undefined) throw new GatewayError('malformed', `Pakasir ${path.split('?')[0]} answered something that is not JSON`);
    return body;
  }

  async createQris(req: { orderId: string; amount: number }): Promise<GatewayInvoice> {
    const { project, apiKey } = this.#credentials();
    const body = (await this.#request('/api/transactioncreate/qris', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ project, order_id: req.orderId, amount: req.amount, api_key: apiKey }),
    })) as { payment?: Record<string, unknown> } | undefined;
    const p = body?.payment;
    const total = Number(p?.total_payment);
    const expires = new Date(String(p?.expired_at));
    if (!p || typeof p.payment_number !== 'string' || !Number.isFinite(total) || Number.isNaN(expires.getTime())) {
      throw new GatewayError('malformed', 'Pakasir transactioncreate: answer lacks payment_number, total_payment or expired_at');
    }
    if (String(p.order_id) !== req.orderId || Number(p.amount) !== req.amount) {
      throw new GatewayError('malformed', 'Pakasir transactioncreate: answer is for another order or amount');
    }
    return { orderId: req.orderId, amount: req.amount, totalPayment: total, qrisString: p.payment_number, expiresAt: expires };
  }

  async getTransaction(req: { orderId: string; amount: number }): Promise<GatewayTransaction | undefined> {
    const { project, apiKey } = this.#credentials();
    const q = new URLSearchParams({ project, amount: String(req.amount), order_id: req.orderId, api_key: apiKey });
    const body = (await this.#request(`/api/transactiondetail?${q}`, { method: 'GET' })) as { transaction?: Record<string, unknown> } | undefined;
    const t = body?.transaction;
    if (!t) return undefined;
    const completedAt = t.completed_at ? new Date(String(t.completed_at)) : undefined;
    return {
      orderId: String(t.order_id ?? ''),
      amount: Number(t.amount),
      status: STATUS[String(t.status ?? '').toLowerCase()] ?? 'unknown',
      completedAt: completedAt && !Number.isNaN(completedAt.getTime()) ? completedAt : undefined,
    };
  }

  async cancel(req: { orderId: string; amount: number }): Promise<void> {
    const { project, apiKey } = this.#credentials();
    // A 404 (the gateway does not know it: never created, or gone) leaves nothing to cancel.
    await this.#request('/api/transactioncancel', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ project, order_id: req.orderId, amount: req.amount, api_key: apiKey }),
    });
  }

  payUrl(req: { orderId: string; amount: number }): string | undefined {
    if (!this.#o.publicDomain || !this.#o.project) return undefined;
    const q = new URLSearchParams({ order_id: req.orderId, qris_only: '1' });
    return `${this.#o.publicDomain.replace(/\/+$/, '')}/pay/${encodeURIComponent(this.#o.project)}/${req.amount}?${q}`;
  }
}
