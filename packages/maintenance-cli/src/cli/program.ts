import { AlertDeliveryError, BotctlError, ExitCode, InterruptedError, UsageError } from '@botctl/core';
import { Command, CommanderError, Option } from 'commander';
import { registerBackupCreate } from '../commands/backup/create.js';
import { registerBackupDrill } from '../commands/backup/drill.js';
import { registerBackupList } from '../commands/backup/list.js';
import { registerBackupPrune } from '../commands/backup/prune.js';
import { registerBackupRestore } from '../commands/backup/restore.js';
import { registerBackupVerify } from '../commands/backup/verify.js';
import { registerBackupOffsite } from '../commands/backup/offsite.js';
import { registerAlert } from '../commands/alert.js';
import { registerDemo } from '../commands/demo.js';
import { registerHealthcheck } from '../commands/healthcheck.js';
import { registerDb } from '../commands/db.js';
import { registerKeygen } from '../commands/keygen.js';
import { registerLogs } from '../commands/logs.js';
import { registerPurge } from '../commands/purge.js';
import { registerJournal } from '../commands/journal.js';
import { registerStatus } from '../commands/status.js';
import { registerRecover } from '../commands/recover.js';
import { registerPreflight } from '../commands/preflight.js';
import { registerDoctor } from '../commands/doctor.js';
import { registerConfig } from '../commands/config.js';
import { registerUnlock } from '../commands/unlock.js';
import type { Run } from '../commands/types.js';
import { CliContext, type GlobalOptions, type Io, TOOL_VERSION } from './context.js';

export interface ProgramState {
  ctx: CliContext | undefined;
  /** The top-level command commander dispatched to (known before its options are parsed). */
  command?: string;
}

/** The whole command tree. Actions receive a CliContext built from the global options. */
export function buildProgram(io: Io, state: ProgramState): Command {
  const program = new Command('botctl')
    .description('Backups, health checks, data hygiene and recovery for Telegram auto-order shop bots')
    .version(TOOL_VERSION, '-V, --version')
    .addOption(
      new Option('--env-file <path>', "the tenant's settings file (default: environment and ./.env); `status` takes several, or a folder of them").argParser(
        (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
      ),
    )
    .option('--json', 'print one JSON object on stdout instead of text')
    .option('--no-color', 'plain text, no colours (also NO_COLOR=1)')
    .option('--no-alert', 'do not tell the owners on Telegram about this run')
    .option(
      '--scheduled',
      'an unattended run (cron, a timer, the cron scripts): every failure is told to the owners, a wrong setting too; backup create/prune: offsite follows BACKUP_AUTOMATIC_OFFSITE',
    )
    .showHelpAfterError('(run with --help for usage)')
    .hook('preSubcommand', (_program, sub) => {
      state.command = sub.name();
    })
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });

  const run: Run =
    <O>(body: (ctx: CliContext, opts: O, args: string[]) => Promise<void>) =>
    async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      const globals = cmd.optsWithGlobals() as Omit<GlobalOptions, 'envFile'> & { envFile?: string[] } & O;
      const envFiles = globals.envFile ?? [];
      const ctx = new CliContext({ envFile: envFiles[0], envFiles, json: globals.json, color: globals.color, alert: globals.alert }, io);
      ctx.scheduled = Boolean(globals.scheduled);
      state.ctx = ctx;
      if (envFiles.length > 1 && cmd.name() !== 'status') {
        throw new UsageError(`--env-file was given ${envFiles.length} times; only \`botctl status\` takes several tenants`, {
          hint: 'run the command once per tenant (scripts/rolling_restart.sh and the cron scripts loop over tenants)',
        });
      }
      try {
        await body(ctx, cmd.opts() as O, cmd.args);
      } catch (raw) {
        // Interrupted: whatever failed on the way out, the interruption is what happened.
        const error = io.signal.aborted && io.signal.reason instanceof BotctlError ? io.signal.reason : raw;
        if (ctx.alertSubject && ctx.alertsEnabled && shouldAlertFailure(error, ctx.scheduled)) await alertFailure(ctx, ctx.alertSubject, error);
        throw raw;
      }
      if (ctx.alertSubject && ctx.successAlert && ctx.alertsEnabled) {
        const delivery = await ctx.notifyOwners(`✅ ${ctx.successAlert}`, { silent: !ctx.successAlertLoud });
        if (delivery.configured && !delivery.ok) {
          throw new AlertDeliveryError(`${ctx.alertSubject}: done, but no owner could be told`, {
            hint: 'check OWNER_BOT_TOKEN and that every owner pressed /start on the notification bot; `botctl alert test` tries it',
          });
        }
      }
    };

  const backup = program.command('backup').description('create, list, verify, restore, prune and drill encrypted backups');
  registerBackupCreate(backup, run);
  registerBackupList(backup, run);
  registerBackupVerify(backup, run);
  registerBackupRestore(backup, run);
  registerBackupPrune(backup, run);
  registerBackupDrill(backup, run);
  registerBackupOffsite(backup, run);
  registerHealthcheck(program, run);
  registerAlert(program, run);
  registerDb(program, run);
  registerLogs(program, run);
  registerPurge(program, run);
  registerStatus(program, run);
  registerJournal(program, run);
  registerRecover(program, run);
  registerPreflight(program, run);
  registerDoctor(program, run);
  registerConfig(program, run);
  registerUnlock(program, run);
  registerKeygen(program, run);
  registerDemo(program, run);
  return program;
}

/**
 * A person's mistake at the terminal (a wrong flag or path, a missing setting, answering "no",
 * Ctrl-C) is told to that person, not to the owners as a "GAGAL". Everything else is an
 * incident: a SIGTERM (a supervisor, a shutdown), and in an unattended (--scheduled) run any
 * failure at all, since nobody reads its terminal.
 */
const OPERATOR_MISTAKES: ReadonlySet<number> = new Set([ExitCode.USAGE, ExitCode.CONFIG, ExitCode.NOT_FOUND, ExitCode.REFUSED]);

function shouldAlertFailure(error: unknown, scheduled: boolean): boolean {
  if (error instanceof InterruptedError) return error.signal === 'SIGTERM' || scheduled;
  if (!(error instanceof BotctlError)) return true;
  return scheduled || !OPERATOR_MISTAKES.has(error.exitCode);
}

async function alertFailure(ctx: CliContext, subject: string, error: unknown): Promise<void> {
  const message = error instanceof Error ? error.message : String(error);
  const hint = error instanceof BotctlError && error.hint ? `\nSaran: ${error.hint}` : '';
  try {
    await ctx.notifyOwners(`❌ ${subject} GAGAL\n${message}${hint}`, { silent: false });
  } catch (alertError) {
    // The command's own failure is what the exit code reports; the alert trouble goes to stderr.
    ctx.io.stderr.write(`botctl: owner alert failed: ${ctx.scrub((alertError as Error).message)}\n`);
  }
}

export { CommanderError };
