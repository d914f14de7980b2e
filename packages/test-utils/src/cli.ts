import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';

/** The built CLI (pnpm test builds before running jest). */
export const BOTCTL_MAIN = fileURLToPath(new URL('../../maintenance-cli/dist/main.js', import.meta.url));

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  input?: string;
}

/** A clean environment: no developer settings leak into the tests. */
function baseEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    LANG: 'C.UTF-8',
    NO_COLOR: '1',
    TZ: 'UTC',
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function spawnBotctl(args: string[], opts: RunOptions): ResultPromise<{ reject: false }> {
  return execa(process.execPath, ['--', BOTCTL_MAIN, ...args], {
    cwd: opts.cwd,
    env: baseEnv(opts.env),
    extendEnv: false,
    reject: false,
    timeout: opts.timeoutMs ?? 120_000,
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
  }) as ResultPromise<{ reject: false }>;
}

export async function runBotctl(args: string[], opts: RunOptions): Promise<CliRun> {
  const r = await spawnBotctl(args, opts);
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** Parses the single JSON object a --json run prints. */
export function parseJsonOutput<T = Record<string, unknown>>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`stdout is not one JSON object (exit ${run.exitCode}):\n${run.stdout}\n--- stderr:\n${run.stderr}`);
  }
}
