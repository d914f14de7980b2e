import { type BotApi, BotApiError, type Logger } from '@botctl/core';

export interface ReliableApiOptions {
  /** Attempts for one call when Telegram says 429 or 5xx (the message was not sent). */
  attempts?: number;
  /** Longest wait for one `retry_after`; longer waits fail the call instead of stalling the bot. */
  maxRetryAfterMs?: number;
  /** Per chat: a burst of this many messages, then one per `chatIntervalMs`. */
  chatBurst?: number;
  chatIntervalMs?: number;
  /** Whole bot: at most this many sends per second (Telegram's broadcast limit is about 30). */
  globalPerSecond?: number;
  log?: Logger;
  sleep?: (ms: number) => Promise<void>;
}

const PACED = /^(send|edit|copy|forward)/;

/** A token bucket: `take()` resolves when a token is free. */
class Bucket {
  #tokens: number;
  #last = Date.now();
  #chain: Promise<void> = Promise.resolve();
  constructor(
    readonly capacity: number,
    readonly intervalMs: number,
    readonly sleep: (ms: number) => Promise<void>,
  ) {
    this.#tokens = capacity;
  }
  take(): Promise<void> {
    const next = this.#chain.then(async () => {
      for (;;) {
        const now = Date.now();
        this.#tokens = Math.min(this.capacity, this.#tokens + (now - this.#last) / this.intervalMs);
        this.#last = now;
        if (this.#tokens >= 1) {
          this.#tokens -= 1;
          return;
        }
        await this.sleep(Math.ceil((1 - this.#tokens) * this.intervalMs));
      }
    });
    this.#chain = next.catch(() => {});
    return next;
  }
  get idle(): boolean {
    return this.#tokens >= this.capacity - 1e-9;
  }
}

/**
 * The bot's Bot API client: paces sends per chat and overall, and retries what Telegram did not
 * accept (429 with its `retry_after`, 5xx) a few times. Network errors are not retried for sends:
 * the message may have gone out, and a buyer must not get their goods twice.
 */
export class ReliableBotApi implements BotApi {
  readonly #inner: BotApi;
  readonly #o: Required<Omit<ReliableApiOptions, 'log'>> & { log: Logger | undefined };
  readonly #chats = new Map<string, Bucket>();
  readonly #global: Bucket;

  constructor(inner: BotApi, options: ReliableApiOptions = {}) {
    this.#inner = inner;
    this.#o = {
      attempts: options.attempts ?? 4,
      maxRetryAfterMs: options.maxRetryAfterMs ?? 60_000,
      chatBurst: options.chatBurst ?? 4,
      chatIntervalMs: options.chatIntervalMs ?? 1000,
      globalPerSecond: options.globalPerSecond ?? 25,
      log: options.log,
      sleep: options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    };
    this.#global = new Bucket(this.#o.globalPerSecond, 1000 / this.#o.globalPerSecond, this.#o.sleep);
  }

  async #pace(method: string, params: Record<string, unknown>): Promise<void> {
    if (!PACED.test(method) || params.chat_id === undefined) return;
    const key = String(params.chat_id);
    let b = this.#chats.get(key);
    if (!b) {
      if (this.#chats.size > 10_000) for (const [k, v] of this.#chats) if (v.idle) this.#chats.delete(k);
      b = new Bucket(this.#o.chatBurst, this.#o.chatIntervalMs, this.#o.sleep);
      this.#chats.set(key, b);
    }
    await b.take();
    await this.#global.take();
  }

  async call<T = unknown>(method: string, params: Record<string, unknown> = {}, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      await this.#pace(method, params);
      try {
        return await this.#inner.call<T>(method, params, opts);
      } catch (error) {
        if (!(error instanceof BotApiError) || attempt >= this.#o.attempts) throw error;
        let waitMs: number;
        if (error.kind === 'rate_limited') waitMs = (error.retryAfter ?? 1) * 1000;
        else if (error.kind === 'server') waitMs = 500 * 2 ** (attempt - 1);
        else if ((error.kind === 'network' || error.kind === 'timeout') && !PACED.test(method)) waitMs = 500 * 2 ** (attempt - 1);
        else throw error;
        if (waitMs > this.#o.maxRetryAfterMs) throw error;
        this.#o.log?.warn(error.kind === 'rate_limited' ? `Telegram ${method}: 429, waiting ${waitMs / 1000} s` : `${error.message}; retrying`);
        await this.#o.sleep(waitMs);
      }
    }
  }
}
