import type { Command } from 'commander';
import { catalogScope, listBackups, type Location } from '@botctl/maintenance';
import { renderList, toListItem } from '../../render/backup.js';
import type { Storage } from '@botctl/maintenance';
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
        const scope = catalogScope(ctx.config, ctx.clock.now());
        let offsiteRead = Boolean(off);
        let entries = await listBackups(stores, scope).catch(async (error: unknown) => {
          if (!off) throw error;
          // The offsite destination cannot be read: show what is here, and say so.
          ctx.warn(`cannot read the offsite copies in ${off.description}: ${ctx.scrub((error as Error).message)}`);
          offsiteRead = false;
          return listBackups(stores.slice(0, 1), scope);
        });
        if (opts.offsite) entries = entries.filter((e) => e.copies.some((c) => c.location === 'offsite'));
        const items = entries.map((e) => toListItem(e, ctx.config.timezone, offsiteRead));
        ctx.emit({ ok: true, store_id: ctx.config.storeId, backups: items }, () =>
          renderList(entries, ctx.config.timezone, ctx.clock.now(), ctx.style, offsiteRead),
        );
      }),
    );
}
