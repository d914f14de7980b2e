import { Command, CommanderError, Option } from 'commander';
import { registerBackupCreate } from '../commands/backup/create.js';
import { registerBackupDrill } from '../commands/backup/drill.js';
import { registerBackupList } from '../commands/backup/list.js';
import { registerBackupPrune } from '../commands/backup/prune.js';
import { registerBackupRestore } from '../commands/backup/restore.js';
import { registerBackupVerify } from '../commands/backup/verify.js';
import { registerDemo } from '../commands/demo.js';
import { registerKeygen } from '../commands/keygen.js';
import type { Run } from '../commands/types.js';
import { CliContext, type GlobalOptions, type Io, TOOL_VERSION } from './context.js';

export interface ProgramState {
  ctx: CliContext | undefined;
}

/** The whole command tree. Actions receive a CliContext built from the global options. */
export function buildProgram(io: Io, state: ProgramState): Command {
  const program = new Command('botctl')
    .description('Backups, health checks, data hygiene and recovery for Telegram auto-order shop bots')
    .version(TOOL_VERSION, '-V, --version')
    .addOption(new Option('--env-file <path>', "the tenant's settings file (default: environment and ./.env)"))
    .option('--json', 'print one JSON object on stdout instead of text')
    .option('--no-color', 'plain text, no colours (also NO_COLOR=1)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });

  const run: Run =
    <O>(body: (ctx: CliContext, opts: O, args: string[]) => Promise<void>) =>
    async (...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      const globals = cmd.optsWithGlobals() as GlobalOptions & O;
      const ctx = new CliContext({ envFile: globals.envFile, json: globals.json, color: globals.color }, io);
      state.ctx = ctx;
      await body(ctx, cmd.opts() as O, cmd.args);
    };

  const backup = program.command('backup').description('create, list and verify encrypted backups');
  registerBackupCreate(backup, run);
  registerBackupList(backup, run);
  registerBackupVerify(backup, run);
  registerBackupRestore(backup, run);
  registerBackupPrune(backup, run);
  registerBackupDrill(backup, run);
  registerKeygen(program, run);
  registerDemo(program, run);
  return program;
}

export { CommanderError };
