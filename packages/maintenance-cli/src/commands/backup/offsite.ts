import { PartialError, UsageError } from '@botctl/core';
import type { Command } from 'commander';
import { catalogScope } from '@botctl/maintenance';
import { syncOffsite } from '@botctl/maintenance';
import { offsiteHint } from '@botctl/maintenance';
import type { Run } from '../types.js';

export function registerBackupOffsite(backup: Command, run: Run): void {
  const offsite = backup.command('offsite').description('the offsite copies');
  offsite
    .command('sync')
    .description('copy every local backup that lacks its offsite copy (a night the destination was down), checked like create --offsite')
    .action(
      run(async (ctx) => {
        ctx.alertSubject = 'Sinkronisasi offsite';
        const dest = ctx.offsite;
        if (!dest) throw new UsageError('no offsite destination is configured (BACKUP_OFFSITE_REMOTE or BACKUP_OFFSITE_DIR)');
        const lock = ctx.lock('backup offsite sync');
        let result;
        try {
          result = await syncOffsite(
            { local: ctx.local, offsite: dest, reporter: ctx.reporter, log: ctx.log, signal: ctx.io.signal },
            catalogScope(ctx.config, ctx.clock.now()),
          );
        } finally {
          lock.release();
        }
        ctx.emit({ ok: result.failed.length === 0, ...result }, () =>
          [
            result.copied.length ? `Copied offsite: ${result.copied.join(', ')}` : result.failed.length ? '' : 'Every local backup has its offsite copy.',
            ...result.failed.map((f) => `${ctx.style.red('✗')} ${f.name}: ${f.error}`),
          ]
            .filter(Boolean)
            .join('\n'),
        );
        if (result.failed.length) {
          throw new PartialError(`${result.failed.length} backup(s) still lack their offsite copy: ${result.failed[0]!.error}`, {
            hint: offsiteHint(ctx.config),
          });
        }
        if (result.copied.length) ctx.successAlert = `Salinan offsite yang tertinggal dibuat: ${result.copied.length} backup`;
      }),
    );
}
