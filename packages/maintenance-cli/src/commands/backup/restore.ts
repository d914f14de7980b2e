import { formatDuration, UsageError } from '@botctl/core';
import { type Command, InvalidArgumentError } from 'commander';
import { resolveArchiveArg } from '@botctl/maintenance';
import { parseTargetTime, restoreBackup, restoreToTime } from '@botctl/maintenance';
import { pointInTimeDeps } from './point-in-time.js';
import type { TargetSpec } from '@botctl/maintenance';
import { TOOL_VERSION } from '../../cli/version.js';
import { renderRestore } from '../../render/restore.js';
import type { Run } from '../types.js';
import type { CliContext } from '../../cli/context.js';

interface Opts {
  latest?: boolean;
  targetDb?: string;
  newDb?: string;
  withConfig?: boolean;
  withLogs?: boolean;
  yes?: boolean;
  dryRun?: boolean;
  allowOtherStore?: boolean;
  lockTimeout?: number;
  toTime?: string;
}

const seconds = (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError('expected a whole number of seconds ≥ 1');
  return Number(v);
};

export function registerBackupRestore(backup: Command, run: Run): void {
  backup
    .command('restore')
    .description('verify a backup, then restore it (safety backup first when overwriting; one transaction)')
    .argument('[file]', 'archive name in BACKUP_LOCAL_DIR, or a path')
    .option(
      '--to-time <time>',
      'point in time instead of a backup: the cluster base backup and WAL archive of WAL_CLUSTER_ENV_FILE replayed to this moment ("2026-12-01 10:15:00" in BOT_TIMEZONE, or ISO with offset)',
    )
    .option('--latest', 'the newest complete backup (local, else offsite)')
    .option('--target-db <db>', 'restore into this database (a name on the same server, or a URL without password)')
    .option('--new-db <name>', 'create this database and restore into it: the safe way to look inside a backup')
    .option('--with-config', 'put the env file and BACKUP_EXTRA_FILES back in place (the replaced ones are kept as *.bak-<time>)')
    .option('--with-logs', 'put log files back in place: missing ones restored, existing ones kept with the lines only the backup has merged in')
    .option('--yes', 'allow replacing a database that holds tables')
    .option('--dry-run', 'show what would happen and change nothing')
    .option('--allow-other-store', 'restore a backup made for another store (BACKUP_STORE_ID / BOT_STORE_NAME)')
    .option(
      '--lock-timeout <seconds>',
      'longest wait for a lock another session (the bot) holds on the target (BACKUP_RESTORE_LOCK_TIMEOUT_SECONDS, 60)',
      seconds,
    )
    .action(
      run<Opts>(async (ctx, opts, args) => {
        ctx.alertSubject = 'Restore backup';
        const file = args[0];
        if (opts.toTime !== undefined) return restoreAtTime(ctx, opts, file);
        if ((file === undefined) === !opts.latest)
          throw new UsageError('give a backup <file> or --latest', { hint: 'botctl backup restore --latest --new-db toko_check' });
        if (opts.targetDb && opts.newDb) throw new UsageError('--target-db and --new-db cannot be combined');
        const target: TargetSpec = opts.newDb ? { kind: 'new', name: opts.newDb } : opts.targetDb ? { kind: 'url', value: opts.targetDb } : { kind: 'default' };
        const result = await restoreBackup(
          {
            ...ctx.backupDeps(),
            encryption: () => ctx.encryption(),
            toolVersion: TOOL_VERSION,
          },
          {
            archive: file ? resolveArchiveArg(file, ctx.local, ctx.io.cwd) : 'latest',
            target,
            withConfig: Boolean(opts.withConfig),
            withLogs: Boolean(opts.withLogs),
            yes: Boolean(opts.yes),
            dryRun: Boolean(opts.dryRun),
            allowOtherStore: Boolean(opts.allowOtherStore),
            ...(opts.lockTimeout !== undefined ? { lockTimeoutSeconds: opts.lockTimeout } : {}),
          },
        );
        if (result.status === 'restored') {
          ctx.successAlert =
            `Restore selesai: ${result.plan.archive.name} → database ${result.plan.target.database} ` +
            `(${result.plan.tables.length} tabel, ${result.plan.rows} baris, ${formatDuration(result.duration_ms)})` +
            (result.safety_backup ? `; salinan pengaman: ${result.safety_backup.name}` : '');
        }
        ctx.emit({ ok: true, ...result }, () => renderRestore(result, ctx.style, (p) => ctx.displayPath(p)));
      }),
    );
}

/** `backup restore --to-time`: the tenant's database as it was then, through the same safe restore. */
async function restoreAtTime(ctx: CliContext, opts: Opts, file: string | undefined): Promise<void> {
  if (file !== undefined || opts.latest)
    throw new UsageError('--to-time replaces <file> and --latest: give one of them', {
      hint: 'botctl backup restore --to-time "2026-12-01 10:15:00" --new-db toko_check',
    });
  if (opts.dryRun)
    throw new UsageError('--to-time has no --dry-run: what it restores is known only after the recovery', { hint: 'restore with --new-db NAME to look first' });
  if (opts.targetDb && opts.newDb) throw new UsageError('--target-db and --new-db cannot be combined');
  const at = parseTargetTime(opts.toTime!, ctx.config.timezone);
  ctx.alertSubject = 'Restore backup';
  const deps = await pointInTimeDeps(ctx);
  const target: TargetSpec = opts.newDb ? { kind: 'new', name: opts.newDb } : opts.targetDb ? { kind: 'url', value: opts.targetDb } : { kind: 'default' };
  const r = await restoreToTime(deps, at, {
    target,
    withConfig: false,
    withLogs: false,
    yes: Boolean(opts.yes),
    allowOtherStore: false,
    ...(opts.lockTimeout !== undefined ? { lockTimeoutSeconds: opts.lockTimeout } : {}),
  });
  const result = r.restore;
  if (result.status === 'restored') {
    ctx.successAlert =
      `Restore selesai ke titik waktu ${r.reached ?? r.target} → database ${result.plan.target.database} ` +
      `(${result.plan.tables.length} tabel, ${result.plan.rows} baris, ${formatDuration(result.duration_ms)})` +
      (result.safety_backup ? `; salinan pengaman: ${result.safety_backup.name}` : '');
  }
  ctx.emit({ ok: true, target: r.target, base_backup: r.base_backup, reached: r.reached, stopped: r.stopped, ...result }, () =>
    [
      `Point in time: ${r.target} from ${r.base_backup.name}; reached ${r.reached ?? 'the start of the WAL'}${r.stopped === 'end-of-archive' ? ' (the archive holds nothing later)' : ''}`,
      renderRestore(result, ctx.style, (p) => ctx.displayPath(p)),
    ].join('\n'),
  );
}
