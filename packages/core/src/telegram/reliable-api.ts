import type { Logger } from '../log/logger.js';
import type { BotApi, BotApiCallOptions } from './bot-api.js';
import { BotApiError } from './bot-api.js';

/**
 * The one Telegram retry policy, for the shop bot and the notification bot alike: what Telegram
 * did not accept (429 with its `retry_after`, 5xx) is tried again a few times, sends are paced
 * per chat and overall, and a call given a `deadline` gives up rather than wait past it.
 */
export interface ReliableApiOptions {
  /** Attempts for one call. */
  attempts?: number;
  /** Longest wait for one `retry_after`; longer waits fail the call instead of stalling the bot. */
  maxRetryAfterMs?: number;
  /**
   * Retry a send after a network error or a timeout, when the message may have gone out. Off for
   * the shop bot (a buyer must not get their goods twice), on for owner alerts (a duplicate alert
   * is harmless, a lost one is not).
   */
  retryUncertainSends?: boolean;
  /** Per chat: a burst of this many messages, then one per `chatIntervalMs`. */
  chatBurst?: number;
  chatIntervalMs?: number;
  /** Whole bot: at most this many sends per second (Telegram's broadcast limit is about 30). */
  globalPerSecond?: number;
  log?: Logger;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** Why the policy stopped retrying: set on the BotApiError it throws. */
export interface GaveUp {
  attempts: number;
  because: 'attempts' | 'deadline' | 'retry_after';
}

/** The error a ReliableBotApi call failed with, and when it stopped retrying, why. */
export class GaveUpError extends BotApiError {
  readonly gaveUp: GaveUp;
  constructor(last: BotApiError, gaveUp: GaveUp) {
    super(last.method, last.kind, { status: last.status, description: last.description, retryAfter: last.retryAfter, cause: last });
    this.message = last.message;
    this.gaveUp = gaveUp;
  }
}

const PACED = /^(send|edit|copy|forward)/;

/** A token bucket: `take()` resolves when a token is free. */
class Bucket {
  #tokens: number;
  #last: number;
  #chain: Promise<void> = Promise.resolve();
  constructor(
    readonly capacity: number,
    readonly intervalMs: number,
    readonly sleep: (ms: number) => Promise<void>,
    readonly now: () => number,
  ) {
    this.#tokens = capacity;
    this.#last = now();
  }
  take(): Promise<void> {
    const next = this.#chain.then(async () => {
      for (;;) {
        const now = this.now();
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
      retryUncertainSends: options.retryUncertainSends ?? false,
      chatBurst: options.chatBurst ?? 4,
      chatIntervalMs: options.chatIntervalMs ?? 1000,
      globalPerSecond: options.globalPerSecond ?? 25,
      log: options.log,
      sleep: options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
      now: options.now ?? Date.now,
    };
    this.#global = new Bucket(this.#o.globalPerSecond, 1000 / this.#o.globalPerSecond, this.#o.sleep, this.#o.now);
  }

  /** A file a user sent (getFile's file_path), when the transport can fetch files (HttpBotApi). */
  downloadFile(filePath: string, opts: { timeoutMs?: number; maxBytes?: number } = {}): Promise<Buffer> {
    const inner = this.#inner as BotApi & { downloadFile?: (p: string, o: typeof opts) => Promise<Buffer> };
    if (!inner.downloadFile) throw new Error('this Bot API transport cannot download files');
    return inner.downloadFile(filePath, opts);
  }

  async #pace(method: string, params: Record<string, unknown>): Promise<void> {
    if (!PACED.test(method) || params.chat_id === undefined) return;
    const key = String(params.chat_id);
    let b = this.#chats.get(key);
    if (!b) {
      if (this.#chats.size > 10_000) for (const [k, v] of this.#chats) if (v.idle) this.#chats.delete(k);
      b = new Bucket(this.#o.chatBurst, this.#o.chatIntervalMs, this.#o.sleep, this.#o.now);
      this.#chats.set(key, b);
    }
    await b.take();
    await this.#global.take();
  }

  async call<T = unknown>(method: string, params: Record<string, unknown> = {}, opts: BotApiCallOptions = {}): Promise<T> {
    const { deadline, ...callOpts } = opts;
    let backoff = 500;
    for (let attempt = 1; ; attempt++) {
      await this.#pace(method, params);
      try {
        const left = deadline === undefined ? undefined : deadline - this.#o.now();
        const timeoutMs = left === undefined ? callOpts.timeoutMs : Math.max(1000, Math.min(callOpts.timeoutMs ?? left, left));
        return await this.#inner.call<T>(method, params, { ...callOpts, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
      } catch (error) {
        if (!(error instanceof BotApiError)) throw error;
        const uncertain = error.kind === 'network' || error.kind === 'timeout';
        const retryable = error.kind === 'rate_limited' || error.kind === 'server' || (uncertain && (!PACED.test(method) || this.#o.retryUncertainSends));
        if (!retryable) throw error;
        if (attempt >= this.#o.attempts) throw new GaveUpError(error, { attempts: attempt, because: 'attempts' });
        const told = error.kind === 'rate_limited' && error.retryAfter !== undefined;
        const waitMs = told ? error.retryAfter! * 1000 : backoff;
        if (told && waitMs > this.#o.maxRetryAfterMs) throw new GaveUpError(error, { attempts: attempt, because: 'retry_after' });
        if (deadline !== undefined && this.#o.now() + waitMs >= deadline) throw new GaveUpError(error, { attempts: attempt, because: 'deadline' });
        if (!told) backoff = Math.min(backoff * 2, 8000);
        this.#o.log?.warn(error.kind === 'rate_limited' ? `Telegram ${method}: 429, waiting ${waitMs / 1000} s` : `${error.message}; retrying`);
        await this.#o.sleep(waitMs);
      }
    }
  }
}
