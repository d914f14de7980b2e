import type { Sql } from '../db/connection.js';
import type { Logger } from '../log/logger.js';
import { deliverOrder, type FulfilDeps, fulfilSettlement } from './fulfil.js';
import type { PaymentGateway } from './gateway.js';
import { type CleanupResult, finishExpiry, type ExpiryCleanup, retryInvoiceCleanup } from './invoice-cleanup.js';
import { expireDueInvoices, purgeTermsSubmissions } from './shop.js';

export interface ExpiredPaymentsRun {
  /** False when another process (the bot, another botctl) was running the job: nothing done. */
  ran: boolean;
  cleanup: ExpiryCleanup | undefined;
  /** Due invoices the gateway reported paid, confirmed and delivered instead of expired. */
  settled: number;
  /** Paid orders whose delivery had not got through, tried again. */
  redelivered: number;
  gateway_errors: number;
  /** Invoice and deposit messages whose removal failed before, tried again this run. */
  retried: CleanupResult;
}

/**
 * The `expired_payments` job, one run: expire due invoices and deposits (asking the gateway
 * first), deliver what turned out paid, clean the chat, log the plan's `[expired_payments]` and
 * `[expired_deposits]` lines, and retry stuck deliveries. The bot runs it on
 * EXPIRED_PAYMENTS_CRON; `botctl purge payments` runs it once from the host. An advisory lock
 * in PostgreSQL makes concurrent runs harmless.
 */
export async function runExpiredPaymentsJob(
  deps: Omit<FulfilDeps, 'api'> & { gateway: PaymentGateway | undefined; api: FulfilDeps['api'] | undefined },
  now: Date,
): Promise<ExpiredPaymentsRun> {
  const { sql, log } = deps;
  const result = await expireDueInvoices({ sql, gateway: deps.gateway }, { now });
  if (!result.ran) {
    log.info('[expired_payments] dilewati: instance lain sedang menjalankan job ini');
    return { ran: false, cleanup: undefined, settled: 0, redelivered: 0, gateway_errors: 0, retried: { removed: 0, edited: 0, failed: 0 } };
  }
  const api = deps.api;
  // The 6 November rule: what could not be removed before is tried again, until it is gone.
  // First, so that what fails below waits for the next run rather than being retried at once.
  const retried = api ? await retryInvoiceCleanup({ sql, api, log }) : { removed: 0, edited: 0, failed: 0 };
  if (api) {
    const fulfil: FulfilDeps = { ...deps, api };
    for (const s of result.settled) await fulfilSettlement(fulfil, s).catch((e: unknown) => log.error(`[payment] ${s.gatewayOrderId}: ${(e as Error).message}`));
  } else if (result.settled.length) {
    log.warn(`[payment] ${result.settled.length} pembayaran terkonfirmasi tetapi belum dikirim: TELEGRAM_BOT_TOKEN tidak ada (bot akan mengirimnya)`);
  }
  const cleanup = await finishExpiry({ sql, api, log }, result);
  let redelivered = 0;
  if (api) {
    // Paid orders whose delivery did not get through (Telegram down at the time): try again.
    const stuck = await sql<{ id: string }[]>`
      SELECT id FROM orders WHERE status = 'paid' AND paid_at < ${new Date(now.getTime() - 60_000)} ORDER BY paid_at LIMIT 20`;
    for (const o of stuck) {
      await deliverOrder({ ...deps, api }, String(o.id)).then(
        () => redelivered++,
        (e: unknown) => log.warn(`[payment] order ${o.id} still not delivered: ${(e as Error).message}`),
      );
    }
  }
  return { ran: true, cleanup, settled: result.settled.length, redelivered, gateway_errors: result.gatewayErrors.length, retried };
}

/** The `snk_purge` job, one run, with the plan's `[snk] Purge …` line. */
export async function runSnkPurgeJob(deps: { sql: Sql; log: Logger }, days: number, now: Date): Promise<number> {
  const n = await purgeTermsSubmissions(deps.sql, days, now);
  deps.log.info(`[snk] Purge ${n} submission SNK lebih lama dari ${days} hari`);
  return n;
}

/** How many SNK submissions a purge with `days` would remove (dry run). */
export async function countTermsSubmissionsOlderThan(sql: Sql, days: number, now: Date): Promise<number> {
  const cutoff = new Date(now.getTime() - days * 86_400_000);
  const [row] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM product_term_submissions WHERE created_at < ${cutoff}`;
  return Number(row?.n ?? 0);
}
