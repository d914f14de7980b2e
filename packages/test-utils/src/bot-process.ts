import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built bot (pnpm test builds before running jest). */
export const BOT_MAIN = fileURLToPath(new URL('../../bot/dist/main.js', import.meta.url));

export interface BotProcess {
  child: ChildProcess;
  /** Every stdout/stderr line so far. */
  lines: string[];
  /** The bot's HTTP endpoint (from its start-up log line). */
  httpUrl: string;
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Starts `bot --env-file ENV` as its own process, with a clean environment, and waits until it serves. */
export async function startBotProcess(opts: {
  envFile: string;
  cwd: string;
  env?: Record<string, string>;
  startTimeoutMs?: number;
  /** The Node binary (nodeBinaryFor: one another user can run, for programs the bot starts as that user). */
  node?: string;
}): Promise<BotProcess> {
  const child = spawn(opts.node ?? process.execPath, ['--', BOT_MAIN, '--env-file', opts.envFile], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8', TZ: 'UTC', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  const feed = (chunk: Buffer, buf: { s: string }) => {
    buf.s += chunk.toString('utf8');
    const parts = buf.s.split('\n');
    buf.s = parts.pop()!;
    lines.push(...parts);
    for (const l of [...listeners]) l();
  };
  const out = { s: '' };
  const err = { s: '' };
  child.stdout!.on('data', (c: Buffer) => feed(c, out));
  child.stderr!.on('data', (c: Buffer) => feed(c, err));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const waitForLine = (re: RegExp, timeoutMs = 15_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const hit = lines.find((l) => re.test(l));
        if (hit) {
          listeners.delete(check);
          clearTimeout(timer);
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`bot: no line matching ${re} within ${timeoutMs} ms; output:\n${lines.join('\n')}`));
      }, timeoutMs);
      listeners.add(check);
      void exited.then(() => {
        if (listeners.has(check)) {
          listeners.delete(check);
          clearTimeout(timer);
          reject(new Error(`bot exited before printing ${re}; output:\n${lines.join('\n')}`));
        }
      });
      check();
    });

  const started = await waitForLine(/Bot @\S+ started/, opts.startTimeoutMs ?? 30_000);
  const httpUrl = /HTTP (http:\/\/[^;]+);/.exec(started)?.[1] ?? '';
  return {
    child,
    lines,
    httpUrl,
    waitForLine,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 30_000) {
      if (child.exitCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export interface SupervisedBot {
  /** Every line of every run, in order. */
  lines: string[];
  /** How many times the bot was started. */
  starts: () => number;
  /** Kills the current run (as a crash would); the supervisor starts it again. */
  crash(): void;
  /** Stops supervising and the bot (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
}

/**
 * The bot under a supervisor like systemd's `Restart=always` (or Docker's `restart: always`):
 * whenever it exits, for whatever reason, it is started again after `restartMs`. Optionally as
 * another user (`runuser -u USER`, when this process is root).
 */
const nodeFor = new Map<string, string>();

/**
 * This Node binary as `user` can run it. A Node fetched by `npx node@24` lives under root's home
 * (mode 0700), which another user cannot enter: then a copy in a world-readable temp folder, as a
 * server would have Node in /usr/bin. One copy per Node version and owner, kept and shared by the
 * test processes (a copy per process, removed on 'exit', stayed behind: jest's workers end
 * without that event, 121 MB each run); used only while it is ours and nobody else may write it.
 */
export function nodeBinaryFor(user: string): string {
  const known = nodeFor.get(user);
  if (known) return known;
  let bin = process.execPath;
  try {
    execFileSync('runuser', ['-u', user, '--', bin, '--version'], { stdio: 'ignore' });
  } catch {
    bin = sharedNodeCopy();
  }
  nodeFor.set(user, bin);
  return bin;
}

function sharedNodeCopy(): string {
  const uid = process.getuid?.() ?? 0;
  const dir = path.join(os.tmpdir(), `botctl-node-${process.version}-${uid}`);
  const bin = path.join(dir, 'node');
  const trusted = () => {
    try {
      const d = fs.lstatSync(dir);
      const b = fs.lstatSync(bin);
      const safe = (st: fs.Stats) => st.uid === uid && (st.mode & 0o022) === 0;
      return d.isDirectory() && b.isFile() && safe(d) && safe(b) && b.size === fs.statSync(process.execPath).size;
    } catch {
      return false;
    }
  };
  if (trusted()) return bin;
  // Made under a private name, then renamed into place; another worker may win the race.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'botctl-node-new-'));
  fs.copyFileSync(process.execPath, path.join(tmp, 'node'));
  fs.chmodSync(path.join(tmp, 'node'), 0o755);
  fs.chmodSync(tmp, 0o755);
  try {
    fs.renameSync(tmp, dir);
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (!trusted()) throw new Error(`${dir} exists and is not this user's own copy of Node: remove it`);
  return bin;
}

export function superviseBot(opts: { envFile: string; cwd: string; env?: Record<string, string>; restartMs?: number; user?: string }): SupervisedBot {
  const lines: string[] = [];
  let starts = 0;
  let stopped = false;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = () => {
    if (stopped) return;
    starts++;
    const cmd = [opts.user ? nodeBinaryFor(opts.user) : process.execPath, '--', BOT_MAIN, '--env-file', opts.envFile];
    const argv = opts.user ? ['runuser', '-u', opts.user, '--', ...cmd] : cmd;
    // Its own process group: a crash takes runuser and the bot under it down together.
    const c = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', TZ: 'UTC', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child = c;
    const feed = (buf: { s: string }) => (chunk: Buffer) => {
      buf.s += chunk.toString('utf8');
      const parts = buf.s.split('\n');
      buf.s = parts.pop()!;
      lines.push(...parts);
    };
    c.stdout!.on('data', feed({ s: '' }));
    c.stderr!.on('data', feed({ s: '' }));
    exited = new Promise((resolve) =>
      c.once('exit', (code, signal) => {
        lines.push(`[supervisor] bot exited (${signal ?? code}); restarting in ${opts.restartMs ?? 300} ms`);
        resolve();
        setTimeout(start, opts.restartMs ?? 300);
      }),
    );
  };
  start();
  return {
    lines,
    starts: () => starts,
    crash: () => group(child, 'SIGKILL'),
    async stop() {
      stopped = true;
      if (child && child.exitCode === null && child.signalCode === null) {
        group(child, 'SIGTERM');
        const timer = setTimeout(() => group(child, 'SIGKILL'), 20_000);
        await exited;
        clearTimeout(timer);
      }
      // runuser can exit before the bot under it has finished stopping; the bot then wrote its
      // last heartbeat after the test had removed the tenant folder (a folder left in /tmp).
      await groupGone(child?.pid, 20_000);
    },
  };
}

/** The live (not zombie) processes of process group `pgid`, from /proc. */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses: read after the last ')'.
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid && f[0] !== 'Z') out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Waits until nothing of the group runs any more; SIGKILLs it after `timeoutMs`. */
async function groupGone(pgid: number | undefined, timeoutMs: number): Promise<void> {
  if (!pgid) return;
  let deadline = Date.now() + timeoutMs;
  let killed = false;
  while (groupMembers(pgid).length > 0) {
    if (Date.now() > deadline) {
      if (killed) return;
      killed = true;
      deadline = Date.now() + 2_000;
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function group(child: ChildProcess | undefined, signal: NodeJS.Signals): void {
  if (!child?.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}
