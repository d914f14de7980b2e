import { countTermsSubmissionsOlderThan, FieldCipher, LockedError, runExpiredPaymentsJob, runSnkPurgeJob, UsageError } from '@botctl/core';
import type { Command } from 'commander';
import { withShopDb } from './shop-db.js';
import type { Run } from './types.js';

/**
 * `botctl purge snk|payments`: the bot's `snk_purge` and `expired_payments` jobs, one run from the
 * host, through the same library functions (same log lines, in logs/maintenance/). Safe while the
 * bot runs: the purge is one DELETE; the expiry job holds a PostgreSQL advisory lock.
 */
export function registerPurge(cmd: Command, run: Run): void {
  const purge = cmd;

  purge
    .command('snk')
    .description('delete SNK (terms) submissions older than SNK_RETENTION_DAYS (or --days)')
    .option('--days <n>', 'age in days (default: SNK_RETENTION_DAYS)')
    .option('--dry-run', 'count what would be deleted, delete nothing')
    .action(
      run<{ days?: string; dryRun?: boolean }>(async (ctx, opts) => {
        const days = opts.days === undefined ? ctx.config.snkRetentionDays : Number(opts.days);
        if (!Number.isInteger(days) || days < 1 || days > 3650) {
          throw new UsageError(`--days must be a whole number from 1 to 3650, not ${JSON.stringify(opts.days)}`);
        }
        ctx.alertSubject = 'Purge SNK';
        await withShopDb(ctx, 'purge snk', async (sql) => {
          const now = ctx.clock.now();
          if (opts.dryRun) {
            const n = await countTermsSubmissionsOlderThan(sql, days, now);
            ctx.emit({ ok: true, dry_run: true, days, would_delete: n }, () => `Would delete ${n} SNK submission(s) older than ${days} days.`);
            return;
          }
          const n = await runSnkPurgeJob({ sql, log: ctx.log }, days, now);
          ctx.emit({ ok: true, dry_run: false, days, deleted: n }, () => `Deleted ${n} SNK submission(s) older than ${days} days.`);
        });
      }),
    );

  purge
    .command('payments')
    .description('expire unpaid invoices and deposits past their time (asking the gateway first), remove their chat messages, deliver late payments')
    .action(
      run(async (ctx) => {
        ctx.alertSubject = 'Job expired_payments';
        const c = ctx.config;
        await withShopDb(ctx, 'purge payments', async (sql) => {
          const api = ctx.services.shopApi;
          if (!api) ctx.warn('TELEGRAM_BOT_TOKEN is not set: invoices are expired, but their messages stay in the chats');
          const gateway = ctx.services.gatewayConfigured ? ctx.services.gateway : undefined;
          if (!gateway)
            ctx.warn(
              'PAKASIR_PROJECT_SLUG / PAKASIR_API_KEY not set: invoices are expired without asking the gateway (a late payment is still honoured by the bot)',
            );
          // Late payments are delivered here too, and stock secrets need the field key to decrypt.
          const cipher = FieldCipher.fromSecret(c.dataEncryptionKey);
          const r = await runExpiredPaymentsJob(
            {
              sql,
              api,
              cipher,
              log: ctx.log,
              gateway,
              notifyOwners: (text) => ctx.notifyOwners(text, { silent: false }),
              deliveryRetryLimit: c.bot.deliveryRetryLimit,
            },
            ctx.clock.now(),
          );
          if (!r.ran) {
            throw new LockedError('the expired_payments job is running elsewhere right now (the bot, or another botctl)', {
              hint: 'nothing to do: that run handles the due invoices; try again in a minute if you want to see the counts',
            });
          }
          const p = r.cleanup!.payments;
          const d = r.cleanup!.deposits;
          ctx.emit(
            {
              ok: true,
              payments: { expired: p.invoices, stock_released: p.released, messages_removed: p.removed, messages_edited: p.edited, messages_failed: p.failed },
              deposits: { expired: d.invoices, messages_removed: d.removed, messages_edited: d.edited, messages_failed: d.failed },
              settled: r.settled,
              redelivered: r.redelivered,
              open_checked: r.open_checked,
              gateway_errors: r.gateway_errors,
              retried: { messages_removed: r.retried.removed, messages_edited: r.retried.edited, messages_failed: r.retried.failed },
            },
            () =>
              [
                `[expired_payments] ${p.invoices} invoice(s) expired, ${p.released} stock item(s) released, ${p.removed} message(s) removed, ${p.edited} edited, ${p.failed} failed`,
                `[expired_deposits] ${d.invoices} deposit(s) expired, ${d.removed} message(s) removed, ${d.edited} edited, ${d.failed} failed`,
                ...(r.settled ? [`${r.settled} invoice(s) were in fact paid: confirmed and delivered`] : []),
                ...(r.retried.removed + r.retried.edited + r.retried.failed
                  ? [
                      `earlier failed removals tried again: ${r.retried.removed} removed, ${r.retried.edited} edited, ${r.retried.failed} still failing (tried again later)`,
                    ]
                  : []),
              ].join('\n'),
          );
        });
      }),
    );
}
