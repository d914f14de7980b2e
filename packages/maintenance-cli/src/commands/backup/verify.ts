import { UsageError } from '@botctl/core';
import type { Command } from 'commander';
import { resolveArchiveArg } from '@botctl/maintenance';
import { type VerifyTarget, verifyBackups } from '@botctl/maintenance';
import { renderVerify } from '../../render/backup.js';
import type { Run } from '../types.js';

interface Opts {
  latest?: boolean;
  all?: boolean;
  quick?: boolean;
}

export function registerBackupVerify(backup: Command, run: Run): void {
  backup
    .command('verify')
    .description('prove a backup restorable: decrypt to the end, check every member, read the dump through pg_restore')
    .argument('[file]', 'archive name in BACKUP_LOCAL_DIR, or a path')
    .option('--latest', 'the newest complete local backup')
    .option('--all', 'every backup, local and offsite copies')
    .option('--quick', 'only compare the SHA-256 with the sidecar (needs no key)')
    .action(
      run<Opts>(async (ctx, opts, args) => {
        ctx.alertSubject = 'Verifikasi backup';
        const file = args[0];
        const chosen = [file !== undefined, Boolean(opts.latest), Boolean(opts.all)].filter(Boolean).length;
        if (chosen !== 1) throw new UsageError('give exactly one of <file>, --latest or --all', { hint: 'botctl backup verify --latest' });
        const target: VerifyTarget = file
          ? { kind: 'archive', archive: resolveArchiveArg(file, ctx.local, ctx.io.cwd) }
          : opts.latest
            ? { kind: 'latest' }
            : { kind: 'all' };
        const { report, firstError } = await verifyBackups(ctx.backupDeps(), target, { quick: Boolean(opts.quick) });
        // One archive that failed: the error line says it all. Several: a line each, then the error.
        if (!(firstError && report.results.length === 1 && !ctx.json)) ctx.emit({ ...report }, () => renderVerify(report, ctx.style));
        if (!firstError) {
          ctx.successAlert = `Verifikasi backup OK (${report.level === 'full' ? 'lengkap' : 'hash saja'}): ${report.results.map((r) => r.name).join(', ')}`;
        }
        if (firstError) {
          throw firstError;
        }
      }),
    );
}
