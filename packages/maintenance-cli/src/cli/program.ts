import { AlertDeliveryError, BotctlError, ExitCode, InterruptedError, UsageError } from '@botctl/core/errors';
import { Command, CommanderError, Help, Option } from 'commander';
import type { Run } from '../commands/types.js';
import type { CliContext, GlobalOptions, Io } from './context.js';
import { TOOL_VERSION } from './version.js';

export interface ProgramState {
  ctx: CliContext | undefined;
  /** The top-level command commander dispatched to (known before its options are parsed). */
  command?: string;
  /** That command reports like a check: anything that stops it from checking exits 3 (UNKNOWN). */
  check?: boolean;
}

/**
 * The top-level commands. A command's modules (and the library behind them) are loaded only when
 * commander dispatches to it: `--version` and `--help` load none, and each command pays only for
 * what it uses. `load` returns the function that adds the command's options, subcommands and
 * action to it.
 */
interface CommandEntry {
  name: string;
  /** How the top-level --help lists it, when it takes options or arguments (the stub has none yet). */
  term?: string;
  /** Its exit codes are a check's (0 ok, 1 warning, 2 critical): what stops it from checking is 3, UNKNOWN. */
  check?: true;
  description: string;
  load: () => Promise<(cmd: Command, run: Run) => void>;
}

const COMMANDS: CommandEntry[] = [
  {
    name: 'backup',
    description: 'create, list, verify, restore, prune and drill encrypted backups',
    load: () => import('../commands/backup/index.js').then((m) => m.registerBackup),
  },
  {
    name: 'healthcheck',
    check: true,
    term: 'healthcheck [options]',
    description: 'check database, Telegram, bot process, resources and backups; alert the owners on change (exit 0 ok, 1 warning, 2 critical, 3 unknown)',
    load: () => import('../commands/healthcheck.js').then((m) => m.registerHealthcheck),
  },
  { name: 'alert', description: 'owner alerts on Telegram', load: () => import('../commands/alert.js').then((m) => m.registerAlert) },
  { name: 'db', description: 'the shop database: schema migrations and sample data', load: () => import('../commands/db.js').then((m) => m.registerDb) },
  {
    name: 'logs',
    description: 'daily log files: rotate into encrypted monthly archives, list and extract them',
    load: () => import('../commands/logs.js').then((m) => m.registerLogs),
  },
  {
    name: 'catalog',
    description: 'the products: import them from a CSV or JSON file, export them',
    load: () => import('../commands/catalog.js').then((m) => m.registerCatalog),
  },
  {
    name: 'stock',
    description: 'stock items: add them from a file (encrypted), list the counts',
    load: () => import('../commands/catalog.js').then((m) => m.registerStock),
  },
  {
    name: 'purge',
    description: "run the bot's data-hygiene jobs once from the host (safe while the bot runs)",
    load: () => import('../commands/purge.js').then((m) => m.registerPurge),
  },
  {
    name: 'status',
    check: true,
    description: 'the maintenance checklist (plan section 8) measured: backups, offsite, alerts, logs, updates, drills, audit log, bot process',
    load: () => import('../commands/status.js').then((m) => m.registerStatus),
  },
  {
    name: 'journal',
    description: 'record manual maintenance steps in logs/maintenance/ (updates, patches, rollbacks, notes)',
    load: () => import('../commands/journal.js').then((m) => m.registerJournal),
  },
  {
    name: 'recover',
    term: 'recover [options] [file]',
    description: 'emergency recovery: safety backup, restore database + config + logs, check Telegram and health, tell the owner',
    load: () => import('../commands/recover.js').then((m) => m.registerRecover),
  },
  {
    name: 'preflight',
    description: 'before go-live: settings, database + migrations, pg_dump, writable folders, a verified backup, offsite, a test alert, health',
    load: () => import('../commands/preflight.js').then((m) => m.registerPreflight),
  },
  {
    name: 'wal',
    description: "a PostgreSQL cluster's WAL archive (its own env file): enable archiving, push and fetch (PostgreSQL's archive_command and restore_command)",
    load: () => import('../commands/wal.js').then((m) => m.registerWal),
  },
  {
    name: 'cluster',
    description: "a PostgreSQL cluster's base backups (its own env file): pg_basebackup through gzip and age, where point-in-time recovery starts",
    load: () => import('../commands/cluster.js').then((m) => m.registerCluster),
  },
  { name: 'doctor', description: 'diagnose one part of the setup', load: () => import('../commands/doctor.js').then((m) => m.registerDoctor) },
  { name: 'config', description: 'check the settings file', load: () => import('../commands/config.js').then((m) => m.registerConfig) },
  {
    name: 'unlock',
    term: 'unlock [options]',
    description: "remove the tenant's locks left by dead processes (backup folder, log archives, health check); a live lock is refused (exit 4)",
    load: () => import('../commands/unlock.js').then((m) => m.registerUnlock),
  },
  {
    name: 'init',
    description: 'set up a new tenant: its env file from the template, with new keys',
    load: () => import('../commands/init.js').then((m) => m.registerInit),
  },
  {
    name: 'completion',
    term: 'completion <shell>',
    description: 'print the shell completion script for bash, zsh or fish (e.g. botctl completion bash > /etc/bash_completion.d/botctl)',
    load: () => import('../commands/completion.js').then((m) => m.registerCompletion),
  },
  {
    name: 'man',
    description: 'print the botctl(1) manual page, from the command definitions (botctl man | man -l -)',
    load: () => import('../commands/man.js').then((m) => m.registerMan),
  },
  {
    name: 'keygen',
    term: 'keygen [options]',
    description: 'make a new age identity for backups (0600 file) and print its recipient (public key)',
    load: () => import('../commands/keygen.js').then((m) => m.registerKeygen),
  },
  {
    name: 'demo',
    term: 'demo [options]',
    description: 'throwaway PostgreSQL with a sample shop: backup create --offsite, list, verify; then clean up',
    load: () => import('../commands/demo.js').then((m) => m.registerDemo),
  },
];

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
    .option('-q, --quiet', 'errors only: no result text, progress or warnings (the maintenance log keeps everything); --json is unchanged')
    .option(
      '--scheduled',
      'an unattended run (cron, a timer, the cron scripts): every failure is told to the owners, a wrong setting too; backup create/prune: offsite follows BACKUP_AUTOMATIC_OFFSITE',
    )
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({
      subcommandTerm: (cmd) => (cmd.parent?.name() === 'botctl' && COMMANDS.find((c) => c.name === cmd.name())?.term) || new Help().subcommandTerm(cmd),
    })
    .hook('preSubcommand', async (_program, sub) => {
      state.command = sub.name();
      // Commander awaits this before the subcommand parses its own arguments.
      const entry = COMMANDS.find((c) => c.name === sub.name());
      state.check = entry?.check === true;
      if (entry) (await entry.load())(sub, run);
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
      const { CliContext } = await import('./context.js');
      const ctx = new CliContext({ envFile: envFiles[0], envFiles, json: globals.json, color: globals.color, alert: globals.alert, quiet: globals.quiet }, io);
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
        const { successAlertText } = await import('@botctl/maintenance');
        const delivery = await ctx.notifyOwners(successAlertText(ctx.successAlert), { silent: !ctx.successAlertLoud });
        if (delivery.configured && !delivery.ok) {
          throw new AlertDeliveryError(`${ctx.alertSubject}: done, but no owner could be told`, {
            hint: 'check OWNER_BOT_TOKEN and that every owner pressed /start on the notification bot; `botctl alert test` tries it',
          });
        }
      }
    };

  for (const c of COMMANDS) program.command(c.name).description(c.description);
  return program;
}

/**
 * The whole command tree with every command's options and subcommands loaded (what `completion`
 * and the man page describe); nothing in it runs.
 */
export async function fullCommandTree(io: Io): Promise<Command> {
  const program = buildProgram(io, { ctx: undefined });
  const idle: Run = () => async () => undefined;
  for (const c of COMMANDS) {
    const cmd = program.commands.find((x) => x.name() === c.name);
    if (cmd) (await c.load())(cmd, idle);
  }
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
  const { failureAlertText } = await import('@botctl/maintenance');
  try {
    await ctx.notifyOwners(failureAlertText(subject, error), { silent: false });
  } catch (alertError) {
    // The command's own failure is what the exit code reports; the alert trouble goes to stderr.
    ctx.io.stderr.write(`botctl: owner alert failed: ${ctx.scrub((alertError as Error).message)}\n`);
  }
}

export { CommanderError };
