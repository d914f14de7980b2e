import { PartialError, requireSettings } from '@botctl/core';
import type { Command } from 'commander';
import { backupDoneText, createBackup, lowerPriority } from '@botctl/maintenance';
import { renderCreate } from '../../render/backup.js';
import type { Run } from '../types.js';
import { TOOL_VERSION } from '../../cli/version.js';
import { offsiteHint } from '@botctl/maintenance';

interface Opts {
  offsite?: boolean;
  logs: boolean;
}

export function registerBackupCreate(backup: Command, run: Run): void {
  backup
    .command('create')
    .description('dump the database and archive it with config and logs, encrypted (age), atomically')
    .option('--offsite', 'also copy the archive offsite (BACKUP_OFFSITE_REMOTE or BACKUP_OFFSITE_DIR) and verify the copy')
    .option('--no-offsite', 'do not copy offsite, even for a scheduled run')
    .option('--no-logs', 'leave the log folder out of the archive')
    .action(
      run<Opts>(async (ctx, opts) => {
        // --scheduled (global): offsite follows BACKUP_AUTOMATIC_OFFSITE unless --offsite/--no-offsite.
        ctx.alertSubject = ctx.scheduled ? 'Backup otomatis' : 'Backup';
        requireSettings(ctx.config, ['database', 'encryption']);
        const offsite = opts.offsite ?? (ctx.scheduled ? ctx.config.backup.automaticOffsite : false);
        // BACKUP_NICE: botctl itself yields to the shop; pg_dump and zstd start from its priority.
        lowerPriority(process.pid, ctx.config.backup.nice);
        const result = await createBackup(
          {
            config: ctx.config,
            local: ctx.local,
            offsite: ctx.offsite,
            dumper: ctx.dumper(),
            encryption: ctx.encryption(),
            reporter: ctx.reporter,
            log: ctx.log,
            clock: ctx.clock,
            lock: ctx.lock,
            toolVersion: TOOL_VERSION,
            signal: ctx.io.signal,
          },
          { offsite, includeLogs: opts.logs, kind: ctx.scheduled ? 'scheduled' : 'manual' },
        );
        if (result.status === 'ok') {
          ctx.successAlert = backupDoneText(ctx.alertSubject, result);
        }
        ctx.emit({ ok: result.status === 'ok', ...result }, () => renderCreate(result, ctx.style, (p) => ctx.displayPath(p)));
        if (result.status === 'partial' && result.offsite.status === 'failed') {
          throw new PartialError(`offsite copy failed: ${result.offsite.error}; the local backup ${result.name} is complete`, {
            hint: `${offsiteHint(ctx.config)} and re-run with --offsite`,
          });
        }
      }),
    );
}
