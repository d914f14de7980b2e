import fs from 'node:fs';
import path from 'node:path';
import { BotctlError, loadConfig, RefusedError, tenantBaseDir, UsageError } from '@botctl/core';
import { fenceTheBot } from '@botctl/maintenance';
import type { Command } from 'commander';
import { catalogScope, resolveArchiveArg, storesIn } from '@botctl/maintenance';
import { latestArchive, readSidecarOf } from '@botctl/maintenance';
import { TOOL_VERSION } from '../cli/version.js';
import { runChecks } from '@botctl/maintenance';
import { type RecoveryReport, type RecoveryStep, recover } from '@botctl/maintenance';
import type { Run } from './types.js';

interface Opts {
  latest?: boolean;
  yes?: boolean;
  waitBot: string;
}

/**
 * `botctl recover [<file> | --latest] --yes`: the plan's emergency procedure (section 4) as one
 * command. When the tenant's --env-file is gone, the settings needed to find and decrypt the
 * backup (BACKUP_LOCAL_DIR/BACKUP_OFFSITE_DIR, BACKUP_AGE_IDENTITY_FILE or
 * BACKUP_ENCRYPTION_PASSWORD) come from the environment, and the .env comes back first.
 */
export function registerRecover(cmd: Command, run: Run): void {
  cmd
    .argument('[file]', 'archive name in BACKUP_LOCAL_DIR, or a path')
    .option('--latest', 'the newest complete backup (local, else offsite)')
    .option('--yes', 'do it (without: show what would be done)')
    .option('--wait-bot <seconds>', 'how long to wait for the bot process to come back after the restore (its supervisor restarts it)', '120')
    .action(
      run<Opts>(async (ctx, opts, args) => {
        const file = args[0];
        if ((file === undefined) === !opts.latest)
          throw new UsageError('give a backup <file> or --latest', { hint: 'botctl --env-file /etc/botctl/tenants/toko1.env recover --latest --yes' });
        const waitBot = Number(opts.waitBot);
        if (!Number.isFinite(waitBot) || waitBot < 0 || waitBot > 3600) throw new UsageError('--wait-bot must be 0..3600 seconds');
        ctx.alertSubject = 'Pemulihan (recover)';

        const envPath = ctx.options.envFile ? path.resolve(ctx.io.cwd, ctx.options.envFile) : undefined;
        const configMissing = envPath !== undefined && !fs.existsSync(envPath);
        const reload = () => ctx.useConfig(loadConfig({ envFile: envPath, cwd: ctx.io.cwd, env: ctx.io.env }));
        if (configMissing) {
          // Bootstrap from the environment, with the tenant folder as the base of relative paths.
          const bootstrap = (env: Record<string, string | undefined>) => ctx.useConfig(loadConfig({ cwd: tenantBaseDir(envPath, ctx.io.env), env }));
          bootstrap(ctx.io.env);
          // Whose backups to look for: named in the environment, else the one store whose backups
          // are in the local folder (never a guess between several).
          if (!ctx.io.env.BACKUP_STORE_ID && !ctx.io.env.BOT_STORE_NAME) {
            const found = await storesIn(ctx.local);
            if (found.length > 1) {
              throw new RefusedError(
                `${ctx.displayPath(ctx.config.backup.localDir)} holds backups of ${found.length} stores: ${found.map((f) => `${f.id} ("${f.name}")`).join(', ')}`,
                {
                  hint: 'say which one: BACKUP_STORE_ID=<id> botctl recover …',
                },
              );
            }
            if (found[0]) bootstrap({ ...ctx.io.env, BACKUP_STORE_ID: found[0].id, BOT_STORE_NAME: found[0].name });
          }
          ctx.warn(`${envPath} is missing: using the environment to find and decrypt the backup of ${ctx.config.storeId}; the .env comes back from it first`);
        }
        const local = ctx.local;
        const archive = file
          ? resolveArchiveArg(file, local, ctx.io.cwd)
          : await latestArchive(
              [{ location: 'local', storage: local }, ...(ctx.offsite ? [{ location: 'offsite' as const, storage: ctx.offsite }] : [])],
              catalogScope(ctx.config, ctx.clock.now()),
            );

        if (!opts.yes) {
          const sidecar = await readSidecarOf(archive.storage, archive.name);
          const plan = {
            archive: { name: archive.name, location: archive.location, created_at: sidecar.created_at, store_name: sidecar.store_name },
            config_missing: configMissing,
            steps: [
              ...(configMissing ? ['restore the config files (.env) from the backup'] : []),
              'safety backup of the database as it is now (when it has tables)',
              'verify the backup, restore the database in one transaction, compare row counts',
              ...(configMissing ? [] : ['put the config files back (old ones kept as *.bak-<time>)']),
              'restore log files that are missing (existing ones are kept, lines only the backup has merged in)',
              'getMe on Telegram; wait for the bot process heartbeat',
              'health check must show nothing critical',
              'tell the owners on Telegram',
            ],
          };
          ctx.emit({ ok: false, dry_run: true, plan }, () =>
            [`Recovery from ${archive.name} (${archive.location}, ${sidecar.created_at}) would:`, ...plan.steps.map((s, i) => `  ${i + 1}. ${s}`)].join('\n'),
          );
          throw new RefusedError('recovery replaces the database; nothing was done', { hint: 'add --yes to run it' });
        }

        const printStep = (s: RecoveryStep) => {
          if (ctx.json || ctx.quiet) return;
          const mark = s.status === 'ok' ? ctx.style.green('✓') : s.status === 'skipped' ? '–' : ctx.style.red('✗');
          ctx.io.stderr.write(`${mark} ${s.label}: ${ctx.scrub(s.evidence)}\n`);
          if (s.next) ctx.io.stderr.write(`  next: ${ctx.scrub(s.next)}\n`);
        };
        let report: RecoveryReport;
        try {
          report = await recover(
            {
              restoreDeps: () => ({ ...ctx.backupDeps(), encryption: () => ctx.encryption(), toolVersion: TOOL_VERSION }),
              config: () => ctx.config,
              reloadConfig: reload,
              log: () => ctx.log,
              botApi: () => ctx.services.shopApi,
              checks: async () => (await runChecks(ctx.healthInputs())).checks,
              notifyOwners: (text) => ctx.notifyOwners(text, { silent: false }),
              sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
              onStep: printStep,
              fence: (database) =>
                fenceTheBot(ctx.config, {
                  command: 'recover',
                  database,
                  warn: (m) => ctx.warn(m),
                  step: (m) => ctx.reporter.step(m),
                }),
            },
            {
              archive,
              configMissing,
              waitBotMs: waitBot * 1000,
              envFile: envPath,
              rerun: `botctl ${envPath ? `--env-file ${envPath} ` : ''}recover ${file ?? '--latest'} --yes`,
            },
          );
        } catch (error) {
          const partial = (error as { recovery?: RecoveryReport }).recovery;
          if (partial && ctx.json && error instanceof BotctlError) {
            ctx.emit(
              {
                ...partial,
                ok: false,
                error: { code: error.code, exit_code: error.exitCode, message: ctx.scrub(error.message), hint: error.hint ? ctx.scrub(error.hint) : null },
              },
              () => '',
            );
            throw error;
          }
          throw error;
        }
        ctx.emit(report, () => `Recovered from ${report.archive.name} in ${Math.round(report.duration_ms / 1000)} s; the owners were told.`);
      }),
    );
}
