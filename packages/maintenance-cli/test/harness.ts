import type { Clock } from '@botctl/core';
import {
  type CliRun,
  createTenant,
  type EphemeralCluster,
  makeTempDir,
  removeDir,
  runBotctl,
  startEphemeralCluster,
  type Tenant,
  type TenantOptions,
} from '@botctl/test-utils';
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

/** One cluster and one work folder for a suite, started before its tests and removed after them. */
export interface ClusterSuite {
  readonly cluster: EphemeralCluster;
  readonly work: string;
  /** A tenant on the suite's cluster, in its work folder. */
  tenant(opts?: Omit<TenantOptions, 'cluster' | 'parentDir'>): Promise<Tenant>;
}

/**
 * The setup every suite shares: call at the top level of a test file. Hooks a suite adds after
 * this call run after the cluster is up.
 */
export function useCluster(prefix: string): ClusterSuite {
  let cluster: EphemeralCluster | undefined;
  let work: string | undefined;
  beforeAll(async () => {
    work = makeTempDir(prefix);
    cluster = await startEphemeralCluster({ parentDir: work });
  });
  afterAll(async () => {
    await cluster?.destroy();
    if (work) removeDir(work);
  });
  const ready = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`the suite's ${what} is used before beforeAll ran`);
    return v;
  };
  return {
    get cluster() {
      return ready(cluster, 'cluster');
    },
    get work() {
      return ready(work, 'work folder');
    },
    tenant: (opts = {}) => createTenant({ cluster: ready(cluster, 'cluster'), parentDir: ready(work, 'work folder'), ...opts }),
  };
}

export interface TenantRunOptions {
  env?: Record<string, string | undefined>;
  clock?: Clock;
  signal?: AbortSignal;
}

/** `botctl --env-file <tenant> …` in this process (the default for CLI tests). */
export const botctl = (t: Tenant, args: string[], opts: TenantRunOptions = {}): Promise<InProcessRun> =>
  botctlInProcess(['--env-file', t.envFile, ...args], { cwd: t.dir, ...opts });

/**
 * `botctl --env-file <tenant> …` as a real process: for fake tools on PATH, signals, stdin, or a
 * few end-to-end runs per command that prove the binary itself.
 */
export const botctlProcess = (t: Tenant, args: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> =>
  runBotctl(['--env-file', t.envFile, ...args], { cwd: t.dir, env });
