import { BotctlError, ExitCode } from '@botctl/core/errors';
import { Redactor, redactPatterns } from '@botctl/core/secret';
import { buildProgram, CommanderError, type ProgramState } from './program.js';
import type { Io } from './context.js';

/**
 * Runs one botctl command line and returns its exit code (docs/exit-codes.md). The only place
 * that turns outcomes into exit codes and prints errors: one line with the reason, one with a
 * hint; --json adds a JSON error object on stdout, unless the command printed its JSON result. Secrets are scrubbed from everything printed.
 * main.ts calls it with the process; tests call it in-process with their own streams and clock.
 */
export async function runCli(argv: string[], io: Io): Promise<number> {
  const state: ProgramState = { ctx: undefined };
  const program = buildProgram(io, state);
  const json = argv.includes('--json');
  // healthcheck (and status --nagios) speak Nagios: anything that stops them from checking is
  // UNKNOWN (3). The dispatched command decides, not a word somewhere on the command line.
  const nagios = () => state.ctx?.nagios === true || state.check === true;
  const UNKNOWN = 3;

  try {
    await program.parseAsync(argv, { from: 'node' });
    return state.ctx?.exitCode ?? ExitCode.OK;
  } catch (raw) {
    if (raw instanceof CommanderError) {
      if (raw.code === 'commander.helpDisplayed' || raw.code === 'commander.version' || raw.code === 'commander.help') return ExitCode.OK;
      if (raw.exitCode === 0) return ExitCode.OK;
      // Commander already printed its one-line message and the --help pointer; --json gets the object too.
      const code = nagios() ? UNKNOWN : ExitCode.USAGE;
      if (json) {
        const message = raw.message.replace(/^error: /, '');
        io.stdout.write(`${JSON.stringify({ ok: false, error: { code: 'USAGE', exit_code: code, message, hint: 'run with --help for usage' } }, null, 2)}\n`);
      }
      return code;
    }
    const error = io.signal.aborted && io.signal.reason instanceof BotctlError ? io.signal.reason : raw;
    let redactor: Redactor;
    try {
      redactor = state.ctx?.redactor ?? new Redactor();
    } catch {
      redactor = new Redactor();
    }
    const scrub = (s: string) => redactPatterns(redactor.redact(s));
    // Under systemd, the journal reads `<3>` as the error priority.
    const pri = safely(() => io.journal?.()) ? '<3>' : '';
    if (error instanceof BotctlError) {
      const message = scrub(error.message);
      io.stderr.write(`${pri}botctl: error: ${message}\n`);
      if (error.hint) io.stderr.write(`${pri}hint: ${scrub(error.hint)}\n`);
      if (json && !state.ctx?.resultEmitted) {
        const body = {
          ok: false,
          error: { code: error.code, exit_code: nagios() ? UNKNOWN : error.exitCode, message, hint: error.hint ? scrub(error.hint) : null },
        };
        io.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      }
      return nagios() ? UNKNOWN : error.exitCode;
    }
    const message = scrub(error instanceof Error ? error.message : String(error));
    io.stderr.write(`${pri}botctl: unexpected error: ${message}\n`);
    io.stderr.write(`${pri}hint: this is a bug in botctl; run with BOTCTL_DEBUG=1 for details and report it\n`);
    if (io.env.BOTCTL_DEBUG && error instanceof Error && error.stack) io.stderr.write(`${scrub(error.stack)}\n`);
    if (json) {
      io.stdout.write(`${JSON.stringify({ ok: false, error: { code: 'UNEXPECTED', exit_code: ExitCode.FAILURE, message, hint: null } }, null, 2)}\n`);
    }
    return nagios() ? UNKNOWN : ExitCode.FAILURE;
  }
}

function safely(f: () => boolean | undefined): boolean {
  try {
    return f() === true;
  } catch {
    return false;
  }
}
