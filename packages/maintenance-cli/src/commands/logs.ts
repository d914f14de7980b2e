import path from 'node:path';
import { formatBytes, PartialError, requireSettings, UsageError } from '@botctl/core';
import type { Command } from 'commander';
import { acquireLock } from '@botctl/maintenance';
import { extractLogArchive, listLogArchives } from '@botctl/maintenance';
import { logArchiveStores, rotateLogs } from '@botctl/maintenance';
import { table } from '../render/table.js';
import { offsiteHint } from '@botctl/maintenance';
import type { Run } from './types.js';

export function registerLogs(cmd: Command, run: Run): void {
  const logs = cmd;

  logs
    .command('rotate')
    .description(
      `archive daily log files older than LOG_RETENTION_DAYS (min 90) into encrypted monthly archives, copy them offsite, verify, then remove the files`,
    )
    .option('--dry-run', 'say what would be archived and change nothing')
    .action(
      run<{ dryRun?: boolean }>(async (ctx, opts) => {
        ctx.alertSubject = 'Rotasi log';
        const c = ctx.config;
        if (!opts.dryRun) requireSettings(c, ['encryption']);
        const stores = logArchiveStores(c, ctx.redactor);
        const result = await rotateLogs(
          {
            config: c,
            ...stores,
            log: ctx.log,
            clock: ctx.clock,
            signal: ctx.io.signal,
            encryption: () => ctx.encryption(),
            decryption: () => ctx.decryption(),
            lock: (command) => acquireLock(c.logs.archiveDir, command, ctx.clock, c.timezone),
          },
          { dryRun: opts.dryRun },
        );
        ctx.emit(result, () => {
          const lines = [`Log retention ${result.retention_days} days: files dated before ${result.archive_before} are archived (today ${result.today}).`];
          if (result.eligible.length === 0) lines.push('Nothing to archive.');
          if (result.dry_run) {
            for (const p of result.plan)
              lines.push(`would ${p.mode === 'new' ? 'create' : p.mode === 'merged' ? 'add to' : 'add part'} ${p.name}: ${p.files} file(s)`);
          }
          for (const a of result.archives) {
            const off = a.offsite === 'copied' ? 'offsite ✓' : a.offsite === 'failed' ? `offsite ✗ (${a.offsite_error})` : 'no offsite';
            lines.push(
              `${a.name}: +${a.files_added.length} file(s), ${a.files_total} in archive, ${formatBytes(a.size_bytes)}, verified (${a.verified}), ${off}; removed ${a.removed}${a.kept.length ? `, kept ${a.kept.length}` : ''}`,
            );
          }
          return lines.join('\n');
        });
        if (!result.ok) {
          throw new PartialError('log archives were made, but at least one offsite copy failed; those log files were kept', {
            hint: `${offsiteHint(ctx.config)} and run \`botctl logs rotate\` again`,
          });
        }
      }),
    );

  logs
    .command('list')
    .description('log archives, here and offsite')
    .action(
      run(async (ctx) => {
        const { archives, offsite_error } = await listLogArchives(logArchiveStores(ctx.config, ctx.redactor));
        ctx.emit({ ok: true, archives, ...(offsite_error ? { offsite_error } : {}) }, () => {
          if (archives.length === 0) return `No log archives in ${ctx.displayPath(ctx.config.logs.archiveDir)}.`;
          const yes = (b: boolean) => (b ? 'yes' : '-');
          return table(
            ['ARCHIVE', 'DAYS', 'FILES', 'SIZE', 'LOCAL', 'OFFSITE'],
            archives.map((a) => [
              a.name,
              a.first_day ? `${a.first_day}..${a.last_day}` : '?',
              a.files === null ? '?' : String(a.files),
              formatBytes(a.size_bytes),
              yes(a.local),
              a.offsite ? (a.offsite_matches === false ? 'differs!' : 'yes') : '-',
            ]),
          );
        });
      }),
    );

  logs
    .command('extract')
    .description('decrypt a log archive (YYYY-MM or its file name) into a folder; never overwrites')
    .argument('<archive>', 'a month (YYYY-MM, every part of it) or an archive name from `botctl logs list`')
    .option('--out <dir>', 'where to write the files (default: ./logs-restored-<month>)')
    .option('--file <name>', 'only this file, e.g. bot-order/2026-08-01.log (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .action(
      run<{ out?: string; file?: string[] }>(async (ctx, opts, args) => {
        const which = args[0]!;
        if (!/^\d{4}-\d{2}$/.test(which) && !/^logs-\d{4}-\d{2}(\.\d+)?\.tar\.gz\.enc$/.test(path.basename(which))) {
          throw new UsageError(`${JSON.stringify(which)} is neither a month (YYYY-MM) nor a log archive name`, { hint: 'see `botctl logs list`' });
        }
        requireSettings(ctx.config, ['decryption']);
        const month = /\d{4}-\d{2}/.exec(path.basename(which))![0];
        const out = path.resolve(ctx.io.cwd, opts.out ?? `logs-restored-${month}`);
        const only = opts.file?.length ? (n: string) => opts.file!.includes(n) : undefined;
        const results = await extractLogArchive(logArchiveStores(ctx.config, ctx.redactor), await ctx.decryption(), which, out, only);
        const count = results.reduce((a, r) => a + r.files.length, 0);
        ctx.log.info(`[logs] Arsip log ${results.map((r) => r.archive).join(', ')} diekstrak ke ${out} (${count} file)`);
        ctx.emit({ ok: true, out_dir: out, archives: results }, () =>
          [...results.map((r) => `${r.archive} (${r.from}): ${r.files.length} file(s) checked and written`), `→ ${ctx.displayPath(out)}`].join('\n'),
        );
      }),
    );
}
