import type { Clock } from '@botctl/core';
import { runCli } from '../src/cli/run-cli.js';

export interface InProcessRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface InProcessOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  clock?: Clock;
  signal?: AbortSignal;
}

function capture(): { stream: NodeJS.WriteStream; text: () => string } {
  let buf = '';
  const stream = {
    isTTY: false,
    write(chunk: string | Uint8Array) {
      buf += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, text: () => buf };
}

/**
 * Runs a botctl command line in this process, through the same `runCli` as the binary: flags →
 * options → library → output and exit code, without a Node start-up per call. End-to-end suites
 * keep a few real process runs per command; the rest go through here. `env` is the command's
 * environment (settings, NO_COLOR…); the tools botctl starts (pg_dump, age, rclone) are still
 * found on this process's PATH: a test that puts a fake binary on PATH runs botctl as a process.
 */
export async function botctlInProcess(args: string[], opts: InProcessOptions): Promise<InProcessRun> {
  const out = capture();
  const err = capture();
  const env: Record<string, string | undefined> = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', NO_COLOR: '1', TZ: 'UTC', ...opts.env };
  const code = await runCli(['node', 'botctl', ...args], {
    stdout: out.stream,
    stderr: err.stream,
    env,
    cwd: opts.cwd,
    signal: opts.signal ?? new AbortController().signal,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  return { exitCode: code, stdout: out.text(), stderr: err.text() };
}
