#!/usr/bin/env -S node --
import { BotctlError, ExitCode, InterruptedError, Redactor, redactPatterns } from '@botctl/core';
import { buildProgram, CommanderError, type ProgramState } from './cli/program.js';

/**
 * The only place that turns outcomes into exit codes (docs/exit-codes.md) and prints errors:
 * one line with the reason, one with a hint; --json adds a JSON error object on stdout.
 * Secrets are scrubbed from everything printed.
 */
async function main(argv: string[]): Promise<number> {
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    signals++;
    if (signals > 1) process.exit(signal === 'SIGINT' ? ExitCode.INTERRUPTED : ExitCode.TERMINATED);
    controller.abort(new InterruptedError(signal));
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  const state: ProgramState = { ctx: undefined };
  const program = buildProgram(
    { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), signal: controller.signal },
    state,
  );
  const json = argv.includes('--json');
  // healthcheck speaks Nagios: anything that stops it from checking is UNKNOWN (3).
  const nagios = () => state.ctx?.nagios === true || argv.slice(2).includes('healthcheck');
  const UNKNOWN = 3;

  try {
    await program.parseAsync(argv, { from: 'node' });
    return state.ctx?.exitCode ?? ExitCode.OK;
  } catch (raw) {
    if (raw instanceof CommanderError) {
      if (raw.code === 'commander.helpDisplayed' || raw.code === 'commander.version' || raw.code === 'commander.help') return ExitCode.OK;
      // Commander already printed its one-line message and the --help pointer.
      return raw.exitCode === 0 ? ExitCode.OK : nagios() ? UNKNOWN : ExitCode.USAGE;
    }
    const error = controller.signal.aborted && controller.signal.reason instanceof BotctlError ? controller.signal.reason : raw;
    let redactor: Redactor;
    try {
      redactor = state.ctx?.redactor ?? new Redactor();
    } catch {
      redactor = new Redactor();
    }
    const scrub = (s: string) => redactPatterns(redactor.redact(s));
    if (error instanceof BotctlError) {
      const message = scrub(error.message);
      process.stderr.write(`botctl: error: ${message}\n`);
      if (error.hint) process.stderr.write(`hint: ${scrub(error.hint)}\n`);
      if (json && !(error as { reported?: boolean }).reported) {
        const body = { ok: false, error: { code: error.code, exit_code: nagios() ? UNKNOWN : error.exitCode, message, hint: error.hint ? scrub(error.hint) : null } };
        process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      }
      return nagios() ? UNKNOWN : error.exitCode;
    }
    const message = scrub(error instanceof Error ? error.message : String(error));
    process.stderr.write(`botctl: unexpected error: ${message}\n`);
    process.stderr.write('hint: this is a bug in botctl; run with BOTCTL_DEBUG=1 for details and report it\n');
    if (process.env.BOTCTL_DEBUG && error instanceof Error && error.stack) process.stderr.write(`${scrub(error.stack)}\n`);
    if (json) {
      process.stdout.write(`${JSON.stringify({ ok: false, error: { code: 'UNEXPECTED', exit_code: ExitCode.FAILURE, message, hint: null } }, null, 2)}\n`);
    }
    return nagios() ? UNKNOWN : ExitCode.FAILURE;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`botctl: fatal: ${redactPatterns(String(error))}\n`);
    process.exitCode = ExitCode.FAILURE;
  },
);
