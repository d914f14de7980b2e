import os from 'node:os';
import { ExitCode, humanTime } from '@botctl/core';
import type { Command } from 'commander';
import { runChecks } from '@botctl/maintenance';
import { runPreflight } from '@botctl/maintenance';
import { MARK_ICON } from '@botctl/maintenance';
import type { Run } from './types.js';

export function registerPreflight(cmd: Command, run: Run): void {
  cmd.action(
    run(async (ctx) => {
      const c = ctx.config;
      const lines = await runPreflight({
        config: c,
        redactor: ctx.redactor,
        local: ctx.local,
        offsite: ctx.offsite,
        now: ctx.clock.now(),
        sendTestAlert: () =>
          ctx.alertsEnabled
            ? ctx.notifyOwners(`🔔 Preflight ${c.storeName} di ${os.hostname()} (${humanTime(ctx.clock.now(), c.timezone)}): tes alert sebelum go-live.`, {
                silent: true,
              })
            : Promise.resolve({ configured: false, ok: false, problem: '--no-alert was given', delivered: [], failed: [] }),
        checks: async () => (await runChecks(ctx.healthInputs())).checks,
      });
      const failed = lines.filter((l) => l.mark === 'fail');
      ctx.log.info(`[preflight] ${failed.length ? `GAGAL: ${failed.map((l) => l.id).join(', ')}` : 'semua syarat go-live terpenuhi'}`);
      ctx.emit({ ok: failed.length === 0, checks: lines }, () =>
        [
          `Preflight — ${c.storeName}`,
          ...lines.map((l) => {
            const icon = l.mark === 'ok' ? ctx.style.green(MARK_ICON.ok) : l.mark === 'warn' ? ctx.style.yellow(MARK_ICON.warn) : ctx.style.red(MARK_ICON.fail);
            return `${icon} ${l.label}\n    ${ctx.scrub(l.fact)}${l.fix ? `\n    fix: ${l.fix}` : ''}`;
          }),
          failed.length ? `\nNot ready for go-live: ${failed.length} item(s) failed.` : '\nReady for go-live.',
        ].join('\n'),
      );
      if (failed.length) ctx.exitCode = ExitCode.FAILURE;
    }),
  );
}
