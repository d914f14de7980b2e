import os from 'node:os';
import { type AlertDelivery, AlertDeliveryError, ConfigError, ExitCode, humanTime } from '@botctl/core';
import type { Command } from 'commander';
import type { CliContext } from '../cli/context.js';
import type { Run } from './types.js';

export function registerAlert(cmd: Command, run: Run): void {
  const alert = cmd;
  alert
    .command('test')
    .description('send a test message to every owner through the notification bot, to prove the path works')
    .action(
      run(async (ctx) => {
        const alerter = ctx.alerter;
        if (!alerter.configured) throw notConfigured(ctx, alerter.problem);
        const when = humanTime(ctx.clock.now(), ctx.config.timezone);
        const delivery = await ctx.notifyOwners(`🔔 Tes alert dari botctl di ${os.hostname()} (${when}). Jika pesan ini sampai, alert ke owner berfungsi.`, {
          silent: false,
        });
        ctx.emit({ ...delivery }, () => renderDelivery(delivery, ctx));
        if (!delivery.ok) {
          throw new AlertDeliveryError('the test alert reached no owner', {
            hint: 'each owner must press /start on the notification bot; check OWNER_BOT_TOKEN and TELEGRAM_OWNER_IDS',
          });
        }
        // Some owners reached, some not: PARTIAL, with each failure listed above.
        if (delivery.failed.length > 0) ctx.exitCode = ExitCode.PARTIAL;
      }),
    );

  alert
    .command('send')
    .description('send a message of your own to every owner (for scripts and systemd OnFailure hooks)')
    .argument('<message>', 'the text; the store name is put in front of it')
    .option('--silent', 'deliver without a notification sound')
    .action(
      run<{ silent?: boolean }>(async (ctx, opts, args) => {
        const alerter = ctx.alerter;
        if (!alerter.configured) throw notConfigured(ctx, alerter.problem);
        const delivery = await ctx.notifyOwners(args[0]!, { silent: Boolean(opts.silent) });
        ctx.emit({ ...delivery }, () => renderDelivery(delivery, ctx));
        if (!delivery.ok) {
          throw new AlertDeliveryError('the message reached no owner', { hint: 'botctl alert test shows why' });
        }
        if (delivery.failed.length > 0) ctx.exitCode = ExitCode.PARTIAL;
      }),
    );
}

function renderDelivery(delivery: AlertDelivery, ctx: CliContext): string {
  return [
    ...delivery.delivered.map((id) => `${ctx.style.green('delivered')}  owner ${id}`),
    ...delivery.failed.map((f) => `${ctx.style.red('FAILED')}     owner ${f.chat_id}: ${f.reason}`),
  ].join('\n');
}

function notConfigured(ctx: CliContext, problem: string | undefined): ConfigError {
  return new ConfigError([`owner alerts are not configured: ${problem}`], {
    hint: ctx.config.alerts.enabled
      ? 'set TELEGRAM_OWNER_IDS and OWNER_BOT_TOKEN (the notification bot); each owner must press /start on it'
      : 'set ENABLE_OWNER_ALERTS=true in the env file',
  });
}
