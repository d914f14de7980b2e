import type { Sql } from '../db/connection.js';
import type { Logger } from '../log/logger.js';
import { afterSettlement, deliverPaidOrder, type FulfilDeps } from './fulfil.js';
import { rupiah } from './texts.js';
import type { PaymentGateway } from './gateway.js';
import { type CleanupResult, finishExpiry, type ExpiryCleanup, retryInvoiceCleanup } from './invoice-cleanup.js';
import { expireDueInvoices } from './expiry.js';
import { checkOpenInvoices } from './invoice-actions.js';
import { purgeTermsSubmissions } from './terms.js';

export interface ExpiredPaymentsRun {
  /** False when another process (the bot, another botctl) was running the job: nothing done. */
  ran: boolean;
  cleanup: ExpiryCleanup | undefined;
  /** Due invoices the gateway reported paid, confirmed and delivered instead of expired. */
  settled: number;
  /** Paid orders whose delivery had not got through, tried again. */
  redelivered: number;
  /** Open invoices asked about at the gateway on their backoff (a lost webhook), and how many turned out paid. */
  open_checked: number;
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
    // Another bot instance (or `botctl purge payments`) has it this minute: nothing to say at INFO.
    log.debug('[expired_payments] dilewati: instance lain sedang menjalankan job ini');
    return {
      ran: false,
      cleanup: undefined,
      settled: 0,
      redelivered: 0,
      open_checked: 0,
      gateway_errors: 0,
      retried: { removed: 0, edited: 0, failed: 0 },
    };
  }
  const api = deps.api;
  // The 6 November rule: what could not be removed before is tried again, until it is gone.
  // First, so that what fails below waits for the next run rather than being retried at once.
  const retried = api ? await retryInvoiceCleanup({ sql, api, log }) : { removed: 0, edited: 0, failed: 0 };
  for (const s of result.settled) await afterSettlement(deps, s);
  const cleanup = await finishExpiry({ sql, api, log }, result);
  for (const m of result.mismatches) await afterSettlement(deps, m);
  // Open invoices whose webhook may have been lost: asked on their backoff, settled when paid.
  const open = deps.gateway ? await checkOpenInvoices({ ...deps, gateway: deps.gateway }, now) : { checked: 0, settled: 0, errors: 0 };
  const redelivered = api ? await redeliverPaidOrders({ ...deps, api }) : 0;
  return {
    ran: true,
    cleanup,
    settled: result.settled.length + open.settled,
    redelivered,
    open_checked: open.checked,
    gateway_errors: result.gatewayErrors.length + open.errors,
    retried,
  };
}

/**
 * Paid orders whose delivery has not got through (Telegram down, the buyer blocked the bot),
 * each on its own backoff: the due ones first, claimed for five minutes so two bots do not both
 * deliver. A buyer who blocked the bot waits alone; nobody queues behind them. Orders given up
 * after DELIVERY_RETRY_LIMIT attempts are told to the owners, in one message per run.
 */
export async function redeliverPaidOrders(deps: FulfilDeps, limit = 20): Promise<number> {
  const { sql, log } = deps;
  const due = await sql<{ id: string; public_id: string; telegram_id: string; total_amount: string }[]>`
    UPDATE orders o SET next_delivery_at = now() + interval '5 minutes'
      FROM (SELECT id FROM orders
             WHERE status = 'paid' AND delivery_given_up_at IS NULL
               AND coalesce(next_delivery_at, paid_at + interval '60 seconds') <= now()
             ORDER BY coalesce(next_delivery_at, paid_at) LIMIT ${limit} FOR UPDATE SKIP LOCKED) d, users u
     WHERE o.id = d.id AND u.id = o.user_id
     RETURNING o.id, o.public_id, u.telegram_id, o.total_amount`;
  let delivered = 0;
  const givenUp: string[] = [];
  for (const o of due) {
    const r = await deliverPaidOrder(deps, String(o.id));
    if (r.ok) {
      delivered++;
      log.info(`[payment] pesanan ${o.public_id} akhirnya terkirim ke pembeli ${o.telegram_id}`);
    } else if (r.givenUp) {
      log.error(`[payment] pesanan ${o.public_id} TIDAK terkirim ke pembeli ${o.telegram_id} setelah ${r.attempts} percobaan: ${r.error}`);
      givenUp.push(`${o.public_id} (${rupiah(Number(o.total_amount))}, pembeli ${o.telegram_id}): ${r.error}`);
    } else {
      log.warn(
        `[payment] pesanan ${o.public_id} belum terkirim ke pembeli ${o.telegram_id} (percobaan ke-${r.attempts}, dicoba lagi dalam ${Math.round(r.nextInSeconds! / 60)} menit): ${r.error}`,
      );
    }
  }
  if (givenUp.length) {
    await deps
      .notifyOwners(
        `❌ ${givenUp.length} pesanan lunas tidak bisa dikirim ke pembelinya setelah ${deps.deliveryRetryLimit ?? 10} percobaan:\n` +
          `${givenUp.slice(0, 20).join('\n')}${givenUp.length > 20 ? `\n… dan ${givenUp.length - 20} lagi` : ''}\n` +
          'Pembeli tetap bisa melihat barangnya lewat /pesanan; hubungi mereka bila perlu.',
      )
      .catch((e: unknown) => log.warn(`owners not notified: ${(e as Error).message}`));
  }
  return delivered;
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
