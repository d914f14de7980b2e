import type { Secret } from '../secret.js';

/**
 * The small slice of the Telegram Bot API that botctl and the bot's notifications use, behind an
 * interface so tests (and a self-hosted Bot API server) can stand in for api.telegram.org.
 * The token is part of every request URL, so no URL ever goes into an error message.
 */
export interface BotApi {
  call<T = unknown>(method: string, params?: Record<string, unknown>, opts?: BotApiCallOptions): Promise<T>;
}

export interface BotApiCallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Epoch ms by which the call, retries included, must be over (the retry policy honours it). */
  deadline?: number;
}

export type BotApiFailure = 'unauthorized' | 'forbidden' | 'bad_request' | 'rate_limited' | 'server' | 'network' | 'timeout';

/** A failed Bot API call: what Telegram said (or that it could not be reached), without the token. */
export class BotApiError extends Error {
  readonly method: string;
  readonly kind: BotApiFailure;
  readonly status: number | undefined;
  readonly description: string | undefined;
  readonly retryAfter: number | undefined;

  constructor(method: string, kind: BotApiFailure, detail: { status?: number; description?: string; retryAfter?: number; cause?: unknown }) {
    const what =
      detail.status !== undefined
        ? `${detail.status}${detail.description ? ` ${detail.description}` : ''}`
        : kind === 'timeout'
          ? 'no answer in time'
          : `cannot reach the Bot API (${networkReason(detail.cause)})`;
    super(`Telegram ${method}: ${what}`);
    this.name = 'BotApiError';
    this.method = method;
    this.kind = kind;
    this.status = detail.status;
    this.description = detail.description;
    this.retryAfter = detail.retryAfter;
  }

  /** Worth another try later: rate limits, server errors, network trouble. */
  get transient(): boolean {
    return this.kind === 'rate_limited' || this.kind === 'server' || this.kind === 'network' || this.kind === 'timeout';
  }
}

function networkReason(cause: unknown): string {
  // undici: TypeError('fetch failed') with the system error as cause (ECONNREFUSED, ENOTFOUND, ...).
  let c = cause as { code?: string; cause?: unknown; message?: string } | undefined;
  for (let i = 0; i < 3 && c; i++) {
    if (typeof c.code === 'string') return c.code;
    c = c.cause as typeof c;
  }
  return 'network error';
}

function classify(status: number): BotApiFailure {
  if (status === 401 || status === 404) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server';
  return 'bad_request';
}

export interface HttpBotApiOptions {
  token: Secret;
  /** `https://api.telegram.org` or a self-hosted / test server; no trailing slash needed. */
  apiRoot: string;
  timeoutMs?: number;
}

/** How long one Bot API call may take, unless the caller says otherwise. */
export const TELEGRAM_CALL_TIMEOUT_MS = 15_000;

/** Bot API over HTTPS with Node's fetch; JSON bodies; one timeout per call. */
export class HttpBotApi implements BotApi {
  readonly #token: Secret;
  readonly #root: string;
  readonly #timeoutMs: number;

  constructor(opts: HttpBotApiOptions) {
    this.#token = opts.token;
    this.#root = opts.apiRoot.replace(/\/+$/, '');
    this.#timeoutMs = opts.timeoutMs ?? TELEGRAM_CALL_TIMEOUT_MS;
  }

  async call<T>(method: string, params: Record<string, unknown> = {}, opts: BotApiCallOptions = {}): Promise<T> {
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? this.#timeoutMs);
    const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
    let res: Response;
    let body: { ok?: boolean; result?: T; description?: string; error_code?: number; parameters?: { retry_after?: number } } | undefined;
    try {
      const upload = Object.values(params).some((v) => v instanceof InputFile);
      res = await fetch(`${this.#root}/bot${this.#token.reveal()}/${method}`, {
        method: 'POST',
        ...(upload ? { body: toFormData(params) } : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) }),
        signal,
      });
      const text = await res.text();
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        body = undefined;
      }
    } catch (error) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      const timedOut = timeout.aborted || (error as Error).name === 'TimeoutError';
      throw new BotApiError(method, timedOut ? 'timeout' : 'network', { cause: error });
    }
    if (res.ok && body?.ok) return body.result as T;
    const status = body?.error_code ?? res.status;
    throw new BotApiError(method, classify(status), {
      status,
      description: body?.description ?? res.statusText,
      ...(body?.parameters?.retry_after !== undefined ? { retryAfter: body.parameters.retry_after } : {}),
    });
  }

  /** Downloads a file the Bot API holds (`file_path` from getFile); at most `maxBytes`. */
  async downloadFile(filePath: string, opts: { timeoutMs?: number; maxBytes?: number } = {}): Promise<Buffer> {
    const res = await fetch(`${this.#root}/file/bot${this.#token.reveal()}/${filePath}`, {
      signal: AbortSignal.timeout(opts.timeoutMs ?? this.#timeoutMs),
    }).catch((error: unknown) => {
      throw new BotApiError('downloadFile', 'network', { cause: error });
    });
    if (!res.ok) throw new BotApiError('downloadFile', classify(res.status), { status: res.status, description: res.statusText });
    const data = Buffer.from(await res.arrayBuffer());
    if (data.length > (opts.maxBytes ?? 20 * 1024 * 1024)) throw new BotApiError('downloadFile', 'bad_request', { description: 'file too large' });
    return data;
  }
}

/** A file to upload with a call (sendPhoto, sendDocument): the call goes out as multipart/form-data. */
export class InputFile {
  constructor(
    readonly data: Uint8Array,
    readonly filename: string,
    readonly contentType = 'application/octet-stream',
  ) {}
}

function toFormData(params: Record<string, unknown>): FormData {
  const form = new FormData();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    if (v instanceof InputFile) form.append(k, new Blob([new Uint8Array(v.data)], { type: v.contentType }), v.filename);
    else form.append(k, typeof v === 'string' ? v : JSON.stringify(v));
  }
  return form;
}

/** Telegram's limit for one text message, in UTF-16 code units as the API counts them. */
export const TELEGRAM_TEXT_LIMIT = 4096;

/** Cuts text to Telegram's limit with an ellipsis, never splitting a surrogate pair. */
export function fitTelegramText(text: string, limit = TELEGRAM_TEXT_LIMIT): string {
  if (text.length <= limit) return text;
  let end = limit - 1;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}
