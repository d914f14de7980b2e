import path from 'node:path';
import { UsageError } from '@botctl/core';
import { shippedPath } from '@botctl/core/shipped';
import { enableWalArchiving, fetchWalFile, pushWalFile } from '@botctl/maintenance';
import type { Command } from 'commander';
import type { Run } from './types.js';

/**
 * `botctl wal`: a PostgreSQL cluster's WAL archive, with the cluster's own env file (its age
 * recipients, its local and offsite folders). PostgreSQL runs these itself:
 *   archive_command = 'botctl --env-file /etc/botctl/clusters/main.env --quiet wal push %p'
 *   restore_command = 'botctl --env-file /etc/botctl/clusters/main.env --quiet wal fetch %f %p'
 * Quiet on success (the archiver calls it once a segment); exit 0 only when the file is durably stored.
 */
export function registerWal(cmd: Command, run: Run): void {
  cmd
    .command('push')
    .description("store one WAL file (PostgreSQL's archive_command, %p): compressed, encrypted with age, locally then offsite, each copy fsynced before exit 0")
    .argument('<file>', 'the WAL file, as PostgreSQL passes it (%p, relative to the data directory)')
    .action(
      run(async (ctx, _opts, args) => {
        const file = path.resolve(ctx.io.cwd, args[0]!);
        const s = ctx.services;
        const r = await pushWalFile({ ...s.walStores(), encryption: s.walEncryption() }, file);
        ctx.log.debug(`[wal] push ${r.name}: ${r.stored.map((x) => `${x.location} ${x.outcome}`).join(', ')}`);
        ctx.emit(
          { ok: true, ...r },
          () => `${r.name}: ${r.stored.map((x) => `${x.location} ${x.outcome === 'already' ? 'already stored' : 'stored'}`).join(', ')}`,
        );
      }),
    );
  cmd
    .command('fetch')
    .description(
      "restore one WAL file (PostgreSQL's restore_command, %f %p): from the local copy, else offsite; its SHA-256 checked (exit 12 when it is not archived)",
    )
    .argument('<name>', 'the WAL file name PostgreSQL asks for (%f)')
    .argument('<dest>', 'where to write it (%p, relative to the data directory)')
    .action(
      run(async (ctx, _opts, args) => {
        const dest = path.resolve(ctx.io.cwd, args[1]!);
        const r = await fetchWalFile({ ...ctx.services.walStores(), decryption: await ctx.decryption() }, args[0]!, dest);
        ctx.log.debug(`[wal] fetch ${r.name} from ${r.from}`);
        ctx.emit({ ok: true, ...r, dest }, () => `${r.name}: restored from the ${r.from} copy to ${ctx.displayPath(dest)}`);
      }),
    );
  cmd
    .command('enable')
    .description(
      'check the cluster for WAL archiving (wal_level, archive_mode, archive_timeout from WAL_ARCHIVE_TIMEOUT_SECONDS, archive_command = botctl wal push) and, with --yes, write them (into conf.d/botctl-wal.conf where botctl runs on its host, else with ALTER SYSTEM); says when a restart is needed',
    )
    .option('--yes', 'write the settings (without it: the plan only, nothing changed)')
    .action(
      run<{ yes?: boolean }>(async (ctx, opts) => {
        const envFile = ctx.config.envFile;
        if (!envFile)
          throw new UsageError('wal enable needs --env-file: the cluster env file the archiver will run botctl with', {
            hint: 'botctl --env-file /etc/botctl/clusters/main.env wal enable',
          });
        const r = await enableWalArchiving(ctx.config, {
          botctl: [process.execPath, '--', shippedPath('cli')],
          envFile: path.resolve(envFile),
          timeoutSeconds: ctx.config.walArchiveTimeoutSeconds,
          yes: opts.yes === true,
        });
        const changes = r.settings.filter((s) => s.change);
        const written = r.file ? `Written to ${ctx.displayPath(r.file)}` : 'Written with ALTER SYSTEM';
        if (r.applied) ctx.log.info(`[wal] enable: ${changes.map((s) => s.name).join(', ')} diubah${r.restart_needed ? '; PostgreSQL perlu di-restart' : ''}`);
        ctx.emit({ ok: true, ...r }, () =>
          [
            ...r.settings.map(
              (s) => `${s.change ? (r.applied ? 'set ' : 'would set') : 'ok  '} ${s.name} = ${s.wanted}${s.change ? `  (was ${s.current || "''"})` : ''}`,
            ),
            changes.length === 0
              ? 'WAL archiving is set up already.'
              : r.applied
                ? `${written}${r.reset.length ? ` (reset in postgresql.auto.conf, which would win: ${r.reset.join(', ')})` : ''}${
                    r.restart_needed
                      ? '. Restart PostgreSQL for wal_level/archive_mode (Debian: systemctl restart postgresql@15-main), then check pg_stat_archiver.'
                      : ' and reloaded: in effect now.'
                  }`
                : `Nothing changed: run again with --yes to write these settings (${r.file ? `into ${ctx.displayPath(r.file)}` : 'with ALTER SYSTEM'}).`,
          ].join('\n'),
        );
      }),
    );
}
