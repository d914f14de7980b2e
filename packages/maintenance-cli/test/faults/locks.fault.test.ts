import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode, LockedError } from '@botctl/core';
import { makeTempDir, removeDir } from '@botctl/test-utils';
import { acquireLock, LOCK_FILE, readLock } from '@botctl/maintenance';
import { botctlInProcess } from '../harness.js';

/** Locks that neither block for ever nor let two runs overlap (docs/reliability.md, "Locks"). */

let dir: string;
beforeEach(() => {
  dir = makeTempDir('botctl-fault-lock-');
});
const restores: (() => void)[] = [];
afterEach(() => {
  for (const r of restores.splice(0)) r();
  removeDir(dir);
});

/** Replaces fs[name] until the test ends (the lock module calls through the same fs object). */
function patch<K extends keyof typeof fs>(name: K, make: (real: (typeof fs)[K]) => (typeof fs)[K]): void {
  const real = fs[name];
  (fs as Record<string, unknown>)[name] = make(real);
  restores.push(() => {
    (fs as Record<string, unknown>)[name] = real;
  });
}

const lockFile = () => path.join(dir, LOCK_FILE);

/** A pid that belongs to a live process that is not the one that wrote the lock. */
function liveStranger(): { pid: number; stop: () => void } {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  return { pid: child.pid!, stop: () => child.kill('SIGKILL') };
}

describe('a lock left by a crash before a reboot, whose pid now belongs to another process', () => {
  it('is stale when the boot id differs, and is taken over', () => {
    const stranger = liveStranger();
    try {
      fs.writeFileSync(
        lockFile(),
        JSON.stringify({
          pid: stranger.pid,
          host: os.hostname(),
          started_at: '2026-11-30T02:00:00Z',
          command: 'backup create',
          boot_id: '00000000-dead-beef-0000-000000000000',
        }),
      );
      const lock = acquireLock(dir, 'backup prune');
      expect(readLock(dir)).toMatchObject({ pid: process.pid, command: 'backup prune' });
      lock.release();
    } finally {
      stranger.stop();
    }
  });

  it('is stale when the pid was reused by a process started later', () => {
    const stranger = liveStranger();
    try {
      // Same boot, same pid, but the holder started at another moment than the process now there.
      const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      fs.writeFileSync(
        lockFile(),
        JSON.stringify({ pid: stranger.pid, host: os.hostname(), started_at: '2026-11-30T02:00:00Z', command: 'backup create', boot_id: boot, pid_start: 1 }),
      );
      const lock = acquireLock(dir, 'backup prune');
      expect(readLock(dir)?.pid).toBe(process.pid);
      lock.release();
    } finally {
      stranger.stop();
    }
  });
});

describe('taking over a stale lock', () => {
  it('lets only one of two takers win when both judged the same lock stale at once', () => {
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
    fs.writeFileSync(lockFile(), JSON.stringify({ pid: dead, host: os.hostname(), started_at: 'x', command: 'old' }));

    // Interleave deterministically: A reads the stale lock; before A changes anything on disk,
    // B runs its whole acquisition; then A goes on.
    let aReadStale = false;
    let nested = false;
    let second: { ok: boolean; error?: unknown } | undefined;
    const runB = () => {
      nested = true;
      try {
        acquireLock(dir, 'B');
        second = { ok: true };
      } catch (error) {
        second = { ok: false, error };
      } finally {
        nested = false;
      }
    };
    patch(
      'readFileSync',
      (real) =>
        ((...args: unknown[]) => {
          if (!nested && args[0] === lockFile()) aReadStale = true;
          return (real as (...a: unknown[]) => unknown)(...args);
        }) as never,
    );
    for (const name of ['openSync', 'renameSync', 'unlinkSync', 'rmSync', 'linkSync'] as const) {
      patch(
        name,
        (real) =>
          ((...args: unknown[]) => {
            if (aReadStale && !nested && second === undefined) runB();
            return (real as (...a: unknown[]) => unknown)(...args);
          }) as never,
      );
    }

    let first: { ok: boolean; error?: unknown };
    try {
      acquireLock(dir, 'A');
      first = { ok: true };
    } catch (error) {
      first = { ok: false, error };
    }
    expect(second).toBeDefined();
    // Exactly one holds it; the other was told LOCKED.
    expect([first.ok, second!.ok].filter(Boolean)).toHaveLength(1);
    const loser = first.ok ? second! : first;
    expect(loser.error).toBeInstanceOf(LockedError);
  });
});

describe('botctl unlock', () => {
  it('removes a stale lock and refuses a live one', async () => {
    fs.mkdirSync(path.join(dir, 'backups', 'local'), { recursive: true });
    fs.writeFileSync(path.join(dir, '.env'), 'BOT_STORE_NAME=toko\n');
    const localLock = path.join(dir, 'backups', 'local', LOCK_FILE);
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
    fs.writeFileSync(localLock, JSON.stringify({ pid: dead, host: os.hostname(), started_at: '2026-11-30T02:00:00Z', command: 'backup create' }));
    const gone = await botctlInProcess(['--env-file', path.join(dir, '.env'), 'unlock', '--json'], { cwd: dir });
    expect(gone.exitCode).toBe(ExitCode.OK);
    expect(JSON.parse(gone.stdout)).toMatchObject({ ok: true, removed: [{ command: 'backup create', pid: dead }] });
    expect(fs.existsSync(localLock)).toBe(false);

    const live = liveStranger();
    try {
      const lock = acquireLock(path.join(dir, 'backups', 'local'), 'backup create');
      const refused = await botctlInProcess(['--env-file', path.join(dir, '.env'), 'unlock'], { cwd: dir });
      expect(refused.exitCode).toBe(ExitCode.LOCKED);
      expect(refused.stderr).toMatch(/backup create \(pid \d+.*\) is running/);
      expect(fs.existsSync(localLock)).toBe(true);
      lock.release();
    } finally {
      live.stop();
    }
  });
});

describe("the host scripts' run lock", () => {
  const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
  const takeLock = (envFile: string, lockDir: string, asUser?: string) => {
    const cmd = [
      ...(asUser ? ['runuser', '-u', asUser, '--'] : []),
      'bash',
      '-c',
      `. "${ROOT}/scripts/lib/tenant.sh" && tenant_lock backup "$1" && echo got`,
      '_',
      envFile,
    ];
    return spawnSync(cmd[0]!, cmd.slice(1), { env: { PATH: process.env.PATH, BOTCTL_LOCK_DIR: lockDir, XDG_RUNTIME_DIR: lockDir }, encoding: 'utf8' });
  };

  // Needs two users: the harness runs as root in CI (as on a server where root once ran the script).
  const asRoot = process.getuid?.() === 0 ? it : it.skip;
  asRoot('taken once by root, it is still taken by the tenant user afterwards (no exit 4 every night)', () => {
    const envFile = path.join(dir, '.env');
    fs.writeFileSync(envFile, 'BOT_STORE_NAME=toko\n', { mode: 0o600 });
    expect(takeLock(envFile, dir).stdout).toContain('got');
    const asNobody = takeLock(envFile, dir, 'nobody');
    expect(asNobody.stderr).toBe('');
    expect(asNobody.stdout).toContain('got');
  });
});
