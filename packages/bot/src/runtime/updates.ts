import { type BotApi, BotApiError, type Logger } from '@botctl/core';
import type { Update } from 'telegraf/types';

export const ALLOWED_UPDATES = ['message', 'callback_query'] as const;

/** The shortest time between two empty polls. */
const EMPTY_POLL_FLOOR_MS = 1000;

/**
 * Runs updates as they come: one chat's updates strictly in order (a buyer's taps never race
 * each other), different chats in parallel. `drain()` waits until every accepted update has
 * been handled to the end.
 */
export class UpdateDispatcher {
  readonly #handle: (u: Update) => Promise<void>;
  readonly #chains = new Map<number, Promise<void>>();
  readonly #inflight = new Set<Promise<void>>();

  constructor(handle: (u: Update) => Promise<void>) {
    this.#handle = handle;
  }

  get pending(): number {
    return this.#inflight.size;
  }

  dispatch(update: Update): Promise<void> {
    const key = chatOf(update);
    const prev = this.#chains.get(key) ?? Promise.resolve();
    const run = prev.then(() => this.#handle(update)).catch(() => {});
    this.#chains.set(key, run);
    this.#inflight.add(run);
    void run.finally(() => {
      this.#inflight.delete(run);
      if (this.#chains.get(key) === run) this.#chains.delete(key);
    });
    return run;
  }

  async drain(): Promise<void> {
    while (this.#inflight.size) await Promise.all([...this.#inflight]);
  }
}

function chatOf(u: Update): number {
  const x = u as { message?: { chat: { id: number } }; callback_query?: { from: { id: number } } };
  return x.message?.chat.id ?? x.callback_query?.from.id ?? 0;
}

/**
 * Long polling through our Bot API client. An update is confirmed to Telegram (by asking for the
 * next offset) only after it was handed to the dispatcher; on stop, the current poll is aborted,
 * every handed-out update finishes, and the offset is confirmed, so a restart neither loses nor
 * repeats an update.
 */
export class LongPoller {
  readonly #api: BotApi;
  readonly #dispatcher: UpdateDispatcher;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  readonly #gate: { wait(): Promise<void> } | undefined;
  #offset = 0;
  #loop: Promise<void> | undefined;

  constructor(deps: { api: BotApi; dispatcher: UpdateDispatcher; log: Logger; gate?: { wait(): Promise<void> } }) {
    this.#api = deps.api;
    this.#dispatcher = deps.dispatcher;
    this.#log = deps.log;
    this.#gate = deps.gate;
  }

  start(): void {
    this.#loop = this.#run();
  }

  /** Waits `ms`, or less when stopping. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.#abort.signal;
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async #run(): Promise<void> {
    let backoff = 1000;
    while (!this.#abort.signal.aborted) {
      // Paused by the maintenance fence: updates wait at Telegram until the restore is done.
      await this.#gate?.wait();
      if (this.#abort.signal.aborted) break;
      try {
        const asked = performance.now();
        const updates = await this.#api.call<Update[]>(
          'getUpdates',
          { offset: this.#offset, timeout: 25, allowed_updates: ALLOWED_UPDATES },
          { timeoutMs: 40_000, signal: this.#abort.signal },
        );
        backoff = 1000;
        for (const u of updates) {
          if (u.update_id < this.#offset) continue;
          this.#offset = u.update_id + 1;
          void this.#dispatcher.dispatch(u);
        }
        // Telegram holds an empty poll for `timeout` seconds; a server that answers at once (a local
        // Bot API proxy, an emulator) would be asked hundreds of times a second without a floor.
        const took = performance.now() - asked;
        if (updates.length === 0 && took < EMPTY_POLL_FLOOR_MS) await this.#sleep(EMPTY_POLL_FLOOR_MS - took);
      } catch (error) {
        if (this.#abort.signal.aborted) break;
        const e = error as BotApiError;
        if (e instanceof BotApiError && e.kind === 'unauthorized') {
          this.#log.error('getUpdates: Telegram rejected TELEGRAM_BOT_TOKEN (401); polling stops');
          throw error;
        }
        const wait = e instanceof BotApiError && e.retryAfter ? e.retryAfter * 1000 : backoff;
        // 409: a webhook is set or another instance polls with this token.
        this.#log.warn(`getUpdates failed: ${e.message}; retrying in ${Math.round(wait / 1000)} s`);
        await this.#sleep(wait);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }

  /** Stops polling, lets handed-out updates finish, and confirms them to Telegram. */
  async stop(): Promise<void> {
    this.#abort.abort(new Error('stopping'));
    await this.#loop?.catch(() => {});
    await this.#dispatcher.drain();
    if (this.#offset > 0) {
      try {
        await this.#api.call('getUpdates', { offset: this.#offset, timeout: 0, limit: 1, allowed_updates: ALLOWED_UPDATES }, { timeoutMs: 5000 });
      } catch (error) {
        this.#log.warn(`could not confirm the last updates to Telegram: ${(error as Error).message}`);
      }
    }
  }

  /** Resolves when polling ended by itself (401): main exits. */
  get ended(): Promise<void> {
    return this.#loop ?? Promise.resolve();
  }
}
