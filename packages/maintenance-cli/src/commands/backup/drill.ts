import type { Command } from 'commander';
import { resolveArchiveArg } from '@botctl/maintenance';
import { drillBackup, drillPassedText, drillToTime } from '@botctl/maintenance';
import { formatDuration, IntegrityError } from '@botctl/core';
import { pointInTimeDeps } from './point-in-time.js';
import { renderDrill } from '../../render/restore.js';
import type { Run } from '../types.js';

export function registerBackupDrill(backup: Command, run: Run): void {
  backup
    .command('drill')
    .description('the monthly restore test: restore into a scratch database, compare with the manifest, drop it')
    .argument('[file]', 'archive name or path (default: the newest complete backup)')
    .option('--latest', 'the newest complete backup (the default)')
    .option(
      '--to-time',
      'the point-in-time path instead (WAL_CLUSTER_ENV_FILE): a canary row written now, its WAL archived, the database restored to this moment from the base backup and the WAL into a scratch database that must hold it',
    )
    .action(
      run<{ latest?: boolean; toTime?: boolean }>(async (ctx, opts, args) => {
        ctx.alertSubject = 'Uji restore (drill)';
        const file = args[0];
        if (opts.toTime) {
          const r = await drillToTime(await pointInTimeDeps(ctx));
          ctx.log.info(
            `[drill] Uji restore titik waktu ${r.ok ? 'berhasil' : 'GAGAL'}: ${r.base_backup} + WAL sampai ${r.reached ?? '?'} (${formatDuration(r.duration_ms)})`,
          );
          if (r.ok)
            ctx.successAlert = `Uji restore titik waktu berhasil: data sampai ${r.reached ?? r.written_at} kembali dari ${r.base_backup} + arsip WAL (${formatDuration(r.duration_ms)})`;
          ctx.emit({ ...r }, () =>
            r.ok
              ? `Point-in-time drill passed: the canary written at ${r.written_at} came back (replayed to ${r.reached}, from ${r.base_backup}) in ${formatDuration(r.duration_ms)}; ${r.database} dropped`
              : `Point-in-time drill FAILED: ${r.error}`,
          );
          if (!r.ok) throw new IntegrityError(`point-in-time drill: ${r.error}`, { hint: 'botctl healthcheck (wal_archive); docs/runbooks/point-in-time.md' });
          return;
        }
        const { result, error } = await drillBackup(ctx.backupDeps(), { archive: file ? resolveArchiveArg(file, ctx.local, ctx.io.cwd) : 'latest' });
        if (!error) {
          const passed = drillPassedText(result);
          ctx.successAlert = passed.text;
          ctx.successAlertLoud = passed.loud;
        }
        ctx.emit(result, () => renderDrill(result, ctx.style));
        if (error) throw error;
      }),
    );
}
