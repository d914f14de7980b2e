import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/schema.js';
import { writeFileAtomic } from '../fs/atomic.js';
import type { Logger } from '../log/logger.js';
import type { Secret } from '../secret.js';
import { type BotApi, BotApiError, fitTelegramText, HttpBotApi } from './bot-api.js';
import { GaveUpError, ReliableBotApi } from './reliable-api.js';

/** What happened to one alert: who got it, who did not and why. Never holds a token. */
export interface AlertDelivery {
  /** At least one owner got it (or alerts are off on purpose: see `configured`). */
  ok: boolean;
  /** False when alerts are switched off or TELEGRAM_OWNER_IDS or a bot token is missing: nothing was attempted. */
  configured: boolean;
  delivered: number[];
  failed: { chat_id: number; kind: string; reason: string }[];
  /** Why nothing was attempted, when not configured. */
  problem?: string;
}

export interface OwnerAlertDeps {
  config: Config;
  /** Overrides the HTTP client (tests use the fake Bot API through TELEGRAM_API_ROOT instead). */
  api?: BotApi;
  log?: Logger;
  /** Where a configuration warning goes (stderr in botctl). */
  warn?: (message: string) => void;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Upper bound for one alert including every retry, for all owners together. */
  budgetMs?: number;
  /** Overall abort (SIGINT/SIGTERM). */
  signal?: AbortSignal;
}

/** The notification bot's token: OWNER_BOT_TOKEN, else the shop bot's own (with a warning). */
export function ownerBotToken(config: Config): { token: Secret | undefined; fallback: boolean } {
  if (config.telegram.ownerBotToken) return { token: config.telegram.ownerBotToken, fallback: false };
  return { token: config.telegram.botToken, fallback: config.telegram.botToken !== undefined };
}

/** Why owner alerts cannot be sent with these settings, or undefined when they can. */
export function ownerAlertsProblem(config: Config): string | undefined {
  if (!config.alerts.enabled) return 'owner alerts are switched off (ENABLE_OWNER_ALERTS=false)';
  if (config.telegram.ownerIds.length === 0) return 'TELEGRAM_OWNER_IDS is empty';
  if (!ownerBotToken(config).token) return 'neither OWNER_BOT_TOKEN nor TELEGRAM_BOT_TOKEN is set';
  return undefined;
}

/**
 * Sends owner alerts through the notification bot to every id in TELEGRAM_OWNER_IDS, in the
 * owners' language (the caller writes Indonesian), prefixed with `[BOT_STORE_NAME]`, cut to
 * Telegram's limit. Retries 429 after `retry_after` and 5xx / network errors with backoff, all
 * within `budgetMs`. A 403 means the owner never pressed /start on the notification bot, and is
 * reported as exactly that.
 */
export class OwnerAlerter {
  readonly #config: Config;
  readonly #api: ReliableBotApi | undefined;
  readonly #deps: OwnerAlertDeps;
  readonly problem: string | undefined;
  #warned = false;
  readonly #fallback: boolean;

  constructor(deps: OwnerAlertDeps) {
    this.#deps = deps;
    this.#config = deps.config;
    const { token, fallback } = ownerBotToken(deps.config);
    this.#fallback = fallback;
    const problem = ownerAlertsProblem(deps.config);
    // A test's own API stands in for a missing token.
    this.problem = deps.api && problem?.startsWith('neither') ? undefined : problem;
    // `deps.api` is a bare transport (a test's fake); the retry policy is the one every client uses,
    // bounded here by the alert's time budget. A duplicate alert is harmless, a lost one is not.
    const transport = deps.api ?? (token ? new HttpBotApi({ token, apiRoot: deps.config.telegram.apiRoot }) : undefined);
    this.#api = transport
      ? new ReliableBotApi(transport, {
          attempts: 10,
          maxRetryAfterMs: Number.POSITIVE_INFINITY,
          retryUncertainSends: true,
          ...(deps.sleep ? { sleep: deps.sleep } : {}),
          ...(deps.now ? { now: deps.now } : {}),
        })
      : undefined;
  }

  get configured(): boolean {
    return this.problem === undefined;
  }

  /** `[store] text`, cut to 4096 characters. */
  format(text: string): string {
    return fitTelegramText(`[${this.#config.storeName}] ${text}`);
  }

  async send(text: string, opts: { silent?: boolean } = {}): Promise<AlertDelivery> {
    const log = this.#deps.log;
    if (!this.configured) {
      // Alerts switched off by configuration: the health check and `status` report that state;
      // a line per command would only fill the log.
      log?.debug(`Alert owner tidak dikirim: ${this.problem}`);
      return { ok: true, configured: false, delivered: [], failed: [], problem: this.problem! };
    }
    if (this.#fallback && !this.#warned) {
      this.#warned = true;
      const msg = 'OWNER_BOT_TOKEN is not set: owner alerts go through the shop bot (TELEGRAM_BOT_TOKEN); set a separate notification bot';
      log?.warn(msg);
      this.#deps.warn?.(msg);
    }
    const now = this.#deps.now ?? Date.now;
    const deadline = now() + (this.#deps.budgetMs ?? 60_000);
    const body = this.format(text);
    const results = await Promise.all(this.#config.telegram.ownerIds.map((id) => this.#sendOne(id, body, Boolean(opts.silent), deadline)));
    const delivered = results.filter((r) => r.ok).map((r) => r.chat_id);
    const failed = results.filter((r) => !r.ok).map(({ chat_id, kind, reason }) => ({ chat_id, kind: kind!, reason: reason! }));
    const first = text.split('\n', 1)[0]!.slice(0, 120);
    if (delivered.length) log?.info(`Alert terkirim ke owner (${delivered.length}/${results.length}): ${first}`);
    for (const f of failed) log?.error(`Alert gagal dikirim ke owner ${f.chat_id}: ${f.reason}`);
    return { ok: delivered.length > 0, configured: true, delivered, failed };
  }

  async #sendOne(chatId: number, text: string, silent: boolean, deadline: number): Promise<{ chat_id: number; ok: boolean; kind?: string; reason?: string }> {
    try {
      await this.#api!.call(
        'sendMessage',
        { chat_id: chatId, text, disable_notification: silent, link_preview_options: { is_disabled: true } },
        { timeoutMs: 10_000, deadline, ...(this.#deps.signal ? { signal: this.#deps.signal } : {}) },
      );
      return { chat_id: chatId, ok: true };
    } catch (error) {
      if (!(error instanceof BotApiError)) throw error;
      const fail = (reason: string) => ({ chat_id: chatId, ok: false, kind: error.kind, reason });
      if (error.kind === 'forbidden') {
        return fail('the owner has not pressed /start on the notification bot (or blocked it): Telegram answered 403');
      }
      if (error.kind === 'bad_request' && /chat not found/i.test(error.description ?? '')) {
        return fail('chat not found: the owner has not pressed /start on the notification bot, or the id is wrong');
      }
      if (error.kind === 'unauthorized') return fail(`the notification bot's token was rejected (${error.status}): check OWNER_BOT_TOKEN`);
      if (!(error instanceof GaveUpError)) return fail(error.message);
      if (error.kind === 'rate_limited' && error.gaveUp.because !== 'attempts') {
        return fail(`rate limited by Telegram (retry after ${error.retryAfter ?? '?'} s) beyond the time allowed for this alert`);
      }
      return fail(`${error.message} (gave up after ${error.gaveUp.attempts} attempts)`);
    }
  }
}

/** Last delivery outcome, for `botctl status` and the health check ("alerts working?"). */
export interface AlertStateFile {
  last_attempt_at: string;
  last_ok_at: string | null;
  last_failure: { at: string; reason: string } | null;
}

export const ALERT_STATE_FILE = 'alerts.json';

export async function recordAlertDelivery(stateDir: string, delivery: AlertDelivery, at: Date, previous?: AlertStateFile): Promise<void> {
  if (!delivery.configured) return;
  const next: AlertStateFile = {
    last_attempt_at: at.toISOString(),
    last_ok_at: delivery.ok ? at.toISOString() : (previous?.last_ok_at ?? null),
    last_failure:
      delivery.failed.length > 0
        ? { at: at.toISOString(), reason: delivery.failed.map((f) => `${f.chat_id}: ${f.reason}`).join('; ') }
        : (previous?.last_failure ?? null),
  };
  await fsp.mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(path.join(stateDir, ALERT_STATE_FILE), `${JSON.stringify(next, null, 2)}\n`, 0o600);
}

/** Sends one owner alert and records the outcome in `BOT_STATE_DIR/alerts.json` (botctl and the bot alike). */
export async function sendOwnerAlert(
  alerter: OwnerAlerter,
  stateDir: string,
  text: string,
  opts: { silent: boolean; now: Date; onRecordError?: (error: Error) => void },
): Promise<AlertDelivery> {
  const delivery = await alerter.send(text, { silent: opts.silent });
  if (delivery.configured) {
    let previous: AlertStateFile | undefined;
    try {
      previous = JSON.parse(await fsp.readFile(path.join(stateDir, ALERT_STATE_FILE), 'utf8')) as AlertStateFile;
    } catch {
      previous = undefined;
    }
    await recordAlertDelivery(stateDir, delivery, opts.now, previous).catch((error: unknown) => opts.onRecordError?.(error as Error));
  }
  return delivery;
}
