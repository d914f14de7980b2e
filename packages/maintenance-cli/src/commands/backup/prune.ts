import { type Config, formatBytes } from '@botctl/core';
import { InvalidArgumentError, type Command } from 'commander';
import { pruneBackups, type RetentionPolicy } from '@botctl/maintenance';
import { renderPrune } from '../../render/prune.js';
import type { Run } from '../types.js';

const count = (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a whole number ≥ 0');
  return Number(v);
};

export interface RetentionFlags {
  keep?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepWithin?: string;
}

interface Opts extends RetentionFlags {
  offsite?: boolean;
  dryRun?: boolean;
}

/**
 * The policy of this run: the flags when any retention flag is given (the rest 0, --keep 1),
 * else the env file's.
 */
export function retentionPolicy(config: Config, opts: RetentionFlags): RetentionPolicy {
  const r = config.backup.retention;
  const preRestoreKeepDays = config.backup.preRestoreKeepDays;
  const given = [opts.keep, opts.keepDaily, opts.keepWeekly, opts.keepMonthly, opts.keepYearly, opts.keepWithin].some((v) => v !== undefined);
  if (!given) return { keep: r.keep, daily: r.daily, weekly: r.weekly, monthly: r.monthly, yearly: r.yearly, within: r.within, preRestoreKeepDays };
  return {
    keep: opts.keep ?? 1,
    daily: opts.keepDaily ?? 0,
    weekly: opts.keepWeekly ?? 0,
    monthly: opts.keepMonthly ?? 0,
    yearly: opts.keepYearly ?? 0,
    within: opts.keepWithin,
    preRestoreKeepDays,
  };
}

/** The retention flags and how they combine with the env file (backup prune, cluster prune). */
export function retentionOptions(cmd: Command): Command {
  return cmd
    .option('--keep <n>', 'keep the newest N backups, in real creation order (BACKUP_KEEP)', count)
    .option('--keep-daily <d>', 'keep the newest backup of each of the last D days (BACKUP_KEEP_DAILY)', count)
    .option('--keep-weekly <w>', 'keep the newest backup of each of the last W ISO weeks (BACKUP_KEEP_WEEKLY)', count)
    .option('--keep-monthly <m>', 'keep the newest backup of each of the last M months (BACKUP_KEEP_MONTHLY)', count)
    .option('--keep-yearly <y>', 'keep the newest backup of each of the last Y years (BACKUP_KEEP_YEARLY)', count)
    .option('--keep-within <duration>', 'keep every backup within DURATION of the newest one: 7d, 2w, 6m, 1y2m3d4h (BACKUP_KEEP_WITHIN)')
    .addHelpText(
      'after',
      [
        '',
        "Flags given on the command line replace the env file's policy as a whole: `--keep 2` alone keeps",
        'the newest 2 and nothing else; a tier not given is 0 (and --keep, when not given, is 1: the newest',
        'backup is always kept). Without any of these flags the env file policy applies (BACKUP_KEEP,',
        'BACKUP_KEEP_DAILY/WEEKLY/MONTHLY/YEARLY, BACKUP_KEEP_WITHIN). Never removed: the newest backup',
        'and the newest verified one. Archives dated in the future (a clock that ran ahead) get no',
        'calendar rule; order is by real creation order, not by the dates in the names.',
      ].join('\n'),
    );
}

export function registerBackupPrune(backup: Command, run: Run): void {
  retentionOptions(
    backup.command('prune').description('apply the retention policy: keep the newest N and daily/weekly/monthly/yearly backups, remove the rest'),
  )
    .option('--offsite', 'apply the same policy offsite as well (BACKUP_OFFSITE_REMOTE or BACKUP_OFFSITE_DIR)')
    .option('--dry-run', 'print the plan (keep/remove and why) and change nothing')
    .action(
      run<Opts>(async (ctx, opts) => {
        ctx.alertSubject = 'Prune backup';
        // --scheduled (global): offsite too when BACKUP_AUTOMATIC_OFFSITE=true, unless --offsite.
        const offsite = opts.offsite ?? (ctx.scheduled ? ctx.config.backup.automaticOffsite && ctx.offsite !== undefined : false);
        const policy = retentionPolicy(ctx.config, opts);
        const result = await pruneBackups(ctx.backupDeps(), policy, { offsite, dryRun: Boolean(opts.dryRun) });
        if (!result.dry_run) {
          const where = result.locations.map((l) => `${l.location === 'local' ? 'lokal' : 'offsite'} ${l.removed} dihapus, ${l.kept} disimpan`);
          ctx.successAlert = `Prune backup selesai: ${where.join('; ')}; ${formatBytes(result.freed_bytes)} dibebaskan`;
        }
        ctx.emit({ ok: true, ...result }, () => renderPrune(result, ctx.config.timezone, ctx.style));
      }),
    );
}
