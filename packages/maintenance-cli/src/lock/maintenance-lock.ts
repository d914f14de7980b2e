import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Clock, LockedError, systemClock } from '@botctl/core';

export const LOCK_FILE = '.botctl.lock';

export interface LockInfo {
  pid: number;
  host: string;
  started_at: string;
  command: string;
}

export interface HeldLock {
  readonly file: string;
  readonly info: LockInfo;
  release(): void;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readLock(dir: string): LockInfo | undefined {
  try {
    const info = JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as LockInfo;
    return typeof info.pid === 'number' ? info : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the lock's process still runs: undefined when it is on another host (cannot tell). */
export function lockHolderAlive(info: LockInfo): boolean | undefined {
  return info.host === os.hostname() ? pidAlive(info.pid) : undefined;
}

/** A lock is stale when its process is gone (on this host) or its file was never filled in. */
function isStale(file: string, info: LockInfo | undefined, now: Date): boolean {
  if (!info) {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    // Created but never written: the creator died in between. Give a live writer a minute.
    return !st || now.getTime() - st.mtimeMs > 60_000;
  }
  return info.host === os.hostname() && !pidAlive(info.pid);
}

const held = new Set<string>();
process.once('exit', () => {
  for (const f of held) fs.rmSync(f, { force: true });
});

/**
 * One maintenance operation at a time per backup folder. The lock file holds pid, host and
 * start time; a stale lock (its pid dead on this host) is taken over, a live one is refused
 * with LOCKED. Locks held by another host (a shared folder) are never taken over automatically.
 */
export function acquireLock(dir: string, command: string, clock: Clock = systemClock): HeldLock {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const info: LockInfo = { pid: process.pid, host: os.hostname(), started_at: clock.now().toISOString(), command };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o644);
      try {
        fs.writeSync(fd, `${JSON.stringify(info)}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      held.add(file);
      let released = false;
      return {
        file,
        info,
        release() {
          if (released) return;
          released = true;
          held.delete(file);
          // Only remove the lock if it is still ours.
          if (readLock(dir)?.pid === process.pid) fs.rmSync(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const other = readLock(dir);
      if (isStale(file, other, clock.now())) {
        // Move the stale file aside rather than unlink it: if two processes race here, only one
        // rename succeeds against this exact file and the O_EXCL create decides the winner.
        const aside = `${file}.stale-${process.pid}`;
        try {
          fs.renameSync(file, aside);
          fs.rmSync(aside, { force: true });
        } catch {
          // someone else moved it; retry the create
        }
        continue;
      }
      const who = other
        ? `${other.command} (pid ${other.pid} on ${other.host}, since ${other.started_at})`
        : 'another botctl process (lock file being written)';
      throw new LockedError(`another maintenance operation holds the lock on ${dir}: ${who}`, {
        hint: other && other.host !== os.hostname()
          ? `the lock belongs to host ${other.host}; if that run is dead, remove ${file}`
          : 'wait for it to finish; a lock left by a dead process is taken over automatically',
        details: other ? { lock: other } : undefined,
      });
    }
  }
  throw new LockedError(`could not take the lock on ${dir}`, { hint: 'try again' });
}

/** Runs `fn` under the lock and always releases it. */
export async function withLock<T>(dir: string, command: string, fn: () => Promise<T>, clock?: Clock): Promise<T> {
  const lock = acquireLock(dir, command, clock);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
