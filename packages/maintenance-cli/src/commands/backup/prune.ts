import { formatBytes } from '@botctl/core';
import { InvalidArgumentError, type Command } from 'commander';
import { pruneBackups } from '../../backup/prune.js';
import { renderPrune } from '../../render/prune.js';
import type { Run } from '../types.js';

const count = (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a whole number ≥ 0');
  return Number(v);
};

interface Opts {
  keep?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  offsite?: boolean;
  dryRun?: boolean;
}

export function registerBackupPrune(backup: Command, run: Run): void {
  backup
    .command('prune')
    .description('apply the retention policy: keep the newest N and daily/weekly/monthly backups, remove the rest')
    .option('--keep <n>', 'keep the newest N backups (default BACKUP_KEEP)', count)
    .option('--keep-daily <d>', 'keep the newest backup of each of the last D days (default BACKUP_KEEP_DAILY)', count)
    .option('--keep-weekly <w>', 'keep the newest backup of each of the last W weeks (default BACKUP_KEEP_WEEKLY)', count)
    .option('--keep-monthly <m>', 'keep the newest backup of each of the last M months (default BACKUP_KEEP_MONTHLY)', count)
    .option('--offsite', 'apply the same policy offsite as well (BACKUP_OFFSITE_REMOTE or BACKUP_OFFSITE_DIR)')
    .option('--dry-run', 'print the plan (keep/remove and why) and change nothing')
    .action(
      run<Opts>(async (ctx, opts) => {
        ctx.alertSubject = 'Prune backup';
        const r = ctx.config.backup.retention;
        const policy = {
          keep: opts.keep ?? r.keep,
          daily: opts.keepDaily ?? r.daily,
          weekly: opts.keepWeekly ?? r.weekly,
          monthly: opts.keepMonthly ?? r.monthly,
          preRestoreKeepDays: ctx.config.backup.preRestoreKeepDays,
        };
        const result = await pruneBackups(
          ctx.backupDeps(),
          policy,
          { offsite: Boolean(opts.offsite), dryRun: Boolean(opts.dryRun) },
        );
        if (!result.dry_run) {
          const where = result.locations.map((l) => `${l.location === 'local' ? 'lokal' : 'offsite'} ${l.removed} dihapus, ${l.kept} disimpan`);
          ctx.successAlert = `Prune backup selesai: ${where.join('; ')}; ${formatBytes(result.freed_bytes)} dibebaskan`;
        }
        ctx.emit({ ok: true, ...result }, () => renderPrune(result, ctx.config.timezone, ctx.style));
      }),
    );
}
