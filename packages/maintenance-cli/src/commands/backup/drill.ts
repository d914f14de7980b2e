import type { Command } from 'commander';
import { type PitrDrillResult, resolveArchiveArg } from '@botctl/maintenance';
import { drillBackup, drillPassedText, drillToTime, pitrDrillPassedText } from '@botctl/maintenance';
import { formatDuration, IntegrityError } from '@botctl/core';
import type { CliContext } from '../../cli/context.js';
import { pointInTimeDeps } from './point-in-time.js';
import { renderDrill } from '../../render/restore.js';
import type { Run } from '../types.js';

export function registerBackupDrill(backup: Command, run: Run): void {
  backup
    .command('drill')
    .description(
      'the monthly restore test: restore into a scratch database, compare with the manifest, drop it; with WAL_CLUSTER_ENV_FILE set, the point-in-time drill too',
    )
    .argument('[file]', 'archive name or path (default: the newest complete backup)')
    .option('--latest', 'the newest complete backup (the default)')
    .option(
      '--to-time',
      'only the point-in-time drill (WAL_CLUSTER_ENV_FILE): a canary row written now, its WAL archived, the database restored to this moment from the base backup and the WAL into a scratch database that must hold it',
    )
    .option('--no-to-time', 'only the drill of the backup, even where the cluster archives WAL')
    .action(
      run<{ latest?: boolean; toTime?: boolean }>(async (ctx, opts, args) => {
        ctx.alertSubject = 'Uji restore (drill)';
        const file = args[0];
        if (opts.toTime === true) {
          const r = await pitrDrill(ctx);
          if (r.ok) ctx.successAlert = pitrDrillPassedText(r);
          ctx.emit({ ...r }, () => renderPitr(r));
          if (!r.ok) throw pitrFailed(r);
          return;
        }
        const { result, error } = await drillBackup(ctx.backupDeps(), { archive: file ? resolveArchiveArg(file, ctx.local, ctx.io.cwd) : 'latest' });
        // The monthly drill where the cluster archives WAL: the point-in-time path is proven too,
        // a row written after the last nightly dump brought back (unless told not to, or a file was named).
        const withPitr = !error && !file && opts.toTime !== false && Boolean(ctx.config.walClusterEnvFile);
        const pitr = withPitr ? await pitrDrill(ctx) : undefined;
        if (!error) {
          const passed = drillPassedText(result);
          ctx.successAlert = pitr?.ok ? `${passed.text}\n${pitrDrillPassedText(pitr)}` : passed.text;
          ctx.successAlertLoud = passed.loud;
        }
        ctx.emit(pitr ? { ...result, point_in_time: pitr } : result, () => [renderDrill(result, ctx.style), ...(pitr ? [renderPitr(pitr)] : [])].join('\n'));
        if (error) throw error;
        if (pitr && !pitr.ok) throw pitrFailed(pitr);
      }),
    );
}

async function pitrDrill(ctx: CliContext): Promise<PitrDrillResult> {
  const r = await drillToTime(await pointInTimeDeps(ctx));
  ctx.log.info(
    `[drill] Uji restore titik waktu ${r.ok ? 'berhasil' : 'GAGAL'}: ${r.base_backup} + WAL sampai ${r.reached ?? '?'} (${formatDuration(r.duration_ms)})`,
  );
  return r;
}

const renderPitr = (r: PitrDrillResult) =>
  r.ok
    ? `Point-in-time drill passed: the canary written at ${r.written_at} came back (replayed to ${r.reached}, from ${r.base_backup}) in ${formatDuration(r.duration_ms)}; ${r.database} dropped`
    : `Point-in-time drill FAILED: ${r.error}`;

const pitrFailed = (r: PitrDrillResult) =>
  new IntegrityError(`point-in-time drill: ${r.error}`, { hint: 'botctl healthcheck (wal_archive); docs/runbooks/point-in-time.md' });
