import type { Command } from 'commander';
import { catalogScope, listBackups, type Location } from '../../backup/catalog.js';
import { renderList, toListItem } from '../../render/backup.js';
import type { Storage } from '../../storage/storage.js';
import type { Run } from '../types.js';

export function registerBackupList(backup: Command, run: Run): void {
  backup
    .command('list')
    .description('list backups, newest first: time, size, where (local, offsite, both), last verification and drill')
    .option('--offsite', 'only archives that have an offsite copy')
    .action(
      run<{ offsite?: boolean }>(async (ctx, opts) => {
        const stores: { location: Location; storage: Storage }[] = [{ location: 'local', storage: ctx.local }];
        const off = ctx.offsite;
        if (off) stores.push({ location: 'offsite', storage: off });
        let entries = await listBackups(stores, catalogScope(ctx.config, ctx.clock.now()));
        if (opts.offsite) entries = entries.filter((e) => e.copies.some((c) => c.location === 'offsite'));
        const items = entries.map((e) => toListItem(e, ctx.config.timezone));
        ctx.emit({ ok: true, backups: items }, () => renderList(entries, ctx.config.timezone, ctx.clock.now(), ctx.style));
      }),
    );
}
