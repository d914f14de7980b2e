import { formatBytes, PartialError, shownTime } from '@botctl/core';
import { createBaseBackup, listBaseBackups, pruneCluster } from '@botctl/maintenance';
import { type RetentionFlags, retentionOptions, retentionPolicy } from './backup/prune.js';
import type { Command } from 'commander';
import type { Run } from './types.js';

/** `botctl cluster`: base backups of a PostgreSQL cluster, with the cluster's own env file (see `wal`). */
export function registerCluster(cmd: Command, run: Run): void {
  cmd
    .command('backup')
    .description('a base backup: pg_basebackup (tar, -X none: the WAL comes from the archive) through gzip and age into <BACKUP_LOCAL_DIR>/base/, sidecar last')
    .option('--offsite', 'copy it to the offsite destination too')
    .action(
      run<{ offsite?: boolean }>(async (ctx, opts) => {
        const s = ctx.services;
        const stores = s.baseStores();
        const r = await createBaseBackup(
          { config: ctx.config, local: stores.local, offsite: stores.offsite, encryption: s.walEncryption(), clock: ctx.clock, redactor: ctx.redactor },
          { offsite: opts.offsite === true },
        );
        ctx.log.info(`[cluster] Base backup selesai: ${r.name} (${formatBytes(r.size)}, WAL ${r.start_lsn} … ${r.end_lsn}, timeline ${r.timeline})`);
        ctx.emit({ ok: r.offsite.status !== 'failed', ...r }, () =>
          [
            `Base backup ${ctx.displayPath(stores.local.dir)}/${r.name}: ${formatBytes(r.size)}, WAL ${r.start_lsn} … ${r.end_lsn} on timeline ${r.timeline}`,
            r.offsite.status === 'stored' ? 'Copied offsite.' : '',
          ]
            .filter(Boolean)
            .join('\n'),
        );
        if (r.offsite.status === 'failed') throw new PartialError(`the base backup is complete locally, but the offsite copy failed: ${r.offsite.error}`);
      }),
    );
  cmd
    .command('list')
    .description('the base backups, oldest first: when each finished (a recovery can reach any moment after it), size, WAL range')
    .action(
      run(async (ctx) => {
        const stores = ctx.services.baseStores();
        const list = await listBaseBackups(stores.local, ctx.config.storeId);
        ctx.emit({ ok: true, base_backups: list }, () =>
          list.length === 0
            ? 'No base backups yet: botctl cluster backup'
            : list
                .map((b) => `${b.name}  finished ${shownTime(b.finished_at, ctx.config.timezone)}  ${formatBytes(b.size)}  WAL ${b.start_lsn} … ${b.end_lsn}`)
                .join('\n'),
        );
      }),
    );
  retentionOptions(
    cmd
      .command('prune')
      .description(
        'base backups by the retention policy (BACKUP_KEEP… of the cluster env file, or the flags), then WAL older than the first file the oldest kept base backup needs',
      ),
  )
    .option('--offsite', 'the same offsite')
    .option('--dry-run', 'print what would go and why; change nothing')
    .action(
      run<RetentionFlags & { offsite?: boolean; dryRun?: boolean }>(async (ctx, opts) => {
        const s = ctx.services;
        const r = await pruneCluster({ config: ctx.config, clock: ctx.clock, base: s.baseStores(), wal: s.walStores() }, retentionPolicy(ctx.config, opts), {
          offsite: opts.offsite === true,
          dryRun: opts.dryRun === true,
        });
        for (const l of r.locations) {
          const gone = l.base_backups.filter((b) => b.action === 'remove').length;
          if (!r.dry_run)
            ctx.log.info(`[cluster] Prune ${l.location}: ${gone} base backup dihapus, ${l.wal.remove} file WAL dihapus (${formatBytes(l.wal.remove_bytes)})`);
        }
        ctx.emit({ ok: true, ...r }, () =>
          [
            ...r.holds.map((h) => `held: ${h.base} and the WAL from ${h.start_wal}, by ${h.command} (pid ${h.pid} on ${h.host})`),
            ...r.locations.map((l) =>
              [
                `${l.location}${r.dry_run ? ' (dry run: nothing changed)' : ''}:`,
                ...l.base_backups.map((b) => `  ${b.action === 'keep' ? 'keep  ' : 'remove'} ${b.name}  ${b.reasons.join('; ')}`),
                l.wal.keep_from
                  ? `  WAL: ${r.dry_run ? 'would remove' : 'removed'} ${l.wal.remove} file(s) (${formatBytes(l.wal.remove_bytes)}) before ${l.wal.keep_from}, kept ${l.wal.keep}`
                  : `  WAL: all ${l.wal.keep} kept (no base backup says where replay starts)`,
              ].join('\n'),
            ),
          ].join('\n'),
        );
      }),
    );
}
