import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bootId, classifyIoError, type Clock, holderState, type HolderState, LockedError, processStartTime, shownTime, systemClock } from '@botctl/core';

export { bootId, holderState, processStartTime } from '@botctl/core';

export const LOCK_FILE = '.botctl.lock';
const TAKEOVER_MARK = '.takeover-';

export interface LockInfo {
  pid: number;
  host: string;
  started_at: string;
  command: string;
  /** The kernel's boot id when the lock was taken: after a reboot every old pid is meaningless. */
  boot_id?: string;
  /** The holder's start time (clock ticks since boot, /proc/<pid>/stat): tells a reused pid apart. */
  pid_start?: number;
  /** Random, per acquisition: release removes the lock only if it is still this one. */
  token?: string;
}

export interface HeldLock {
  readonly file: string;
  readonly info: LockInfo;
  release(): void;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function parseLock(text: string | undefined): LockInfo | undefined {
  if (!text) return undefined;
  try {
    const info = JSON.parse(text) as LockInfo;
    return typeof info.pid === 'number' ? info : undefined;
  } catch {
    return undefined;
  }
}

export function readLock(dir: string): LockInfo | undefined {
  return parseLock(readText(path.join(dir, LOCK_FILE)));
}

/** Whether the lock's process still runs: undefined when it is on another host (cannot tell). */
export function lockHolderAlive(info: LockInfo): boolean | undefined {
  const s = holderState(info);
  return s === 'unknown' ? undefined : s === 'alive';
}

/** A lock file is stale when its holder is dead, or it was created and never filled in. */
function isStale(file: string, info: LockInfo | undefined, now: Date): boolean {
  if (!info) {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    // Created but never written: the creator died in between. Give a live writer a minute.
    return !st || now.getTime() - st.mtimeMs > 60_000;
  }
  return holderState(info) === 'dead';
}

const held = new Set<string>();
process.once('exit', () => {
  for (const f of held) fs.rmSync(f, { force: true });
});

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/**
 * Removes the stale lock whose content was `observed`, if it is still exactly that lock. Only
 * one process can hold the takeover guard of one stale lock (O_EXCL on a name derived from its
 * content), and it checks the content again under the guard: two takers that judged the same
 * lock stale at once cannot both remove it, and neither can remove a fresh lock taken meanwhile.
 * Returns false when another taker is at work or the lock changed.
 */
function removeStale(file: string, observed: string): boolean {
  const guard = `${file}${TAKEOVER_MARK}${digest(observed)}`;
  let fd: number;
  try {
    fd = fs.openSync(guard, 'wx', 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    fs.writeSync(fd, `${JSON.stringify({ pid: process.pid, host: os.hostname(), boot_id: bootId() })}\n`);
    fs.closeSync(fd);
    if (readText(file) !== observed) return false;
    fs.unlinkSync(file);
    return true;
  } finally {
    fs.rmSync(guard, { force: true });
  }
}

function describeHolder(other: LockInfo | undefined, timeZone: string | undefined): string {
  return other
    ? `${other.command} (pid ${other.pid} on ${other.host}, since ${shownTime(other.started_at, timeZone)})`
    : 'another botctl process (lock file being written)';
}

/**
 * One maintenance operation at a time per backup folder. The lock file records pid, host, boot
 * id, the holder's start time and a token; a stale lock (holder dead on this host: gone, rebooted
 * since, or its pid reused) is taken over atomically, a live one is refused with LOCKED. Locks
 * taken on another host are never taken over automatically (`botctl unlock --force`).
 */
export function acquireLock(dir: string, command: string, clock: Clock = systemClock, timeZone?: string): HeldLock {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw classifyIoError(error, dir);
  }
  const file = path.join(dir, LOCK_FILE);
  const info: LockInfo = {
    pid: process.pid,
    host: os.hostname(),
    started_at: clock.now().toISOString(),
    command,
    ...(bootId() ? { boot_id: bootId()! } : {}),
    ...(processStartTime(process.pid) !== undefined ? { pid_start: processStartTime(process.pid)! } : {}),
    token: randomBytes(8).toString('hex'),
  };
  const deadline = Date.now() + 2000;
  for (;;) {
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
          if (readLock(dir)?.token === info.token) fs.rmSync(file, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw classifyIoError(error, `the lock file in ${dir}`);
    }
    const observed = readText(file);
    if (observed === undefined) continue; // released meanwhile: try again
    const other = parseLock(observed);
    if (isStale(file, other, clock.now())) {
      if (removeStale(file, observed)) continue;
      // Another process is taking this stale lock over (or it changed): look again shortly.
      if (Date.now() < deadline) {
        sleepSync(20);
        continue;
      }
      throw new LockedError(`the stale lock on ${dir} is being taken over by another process, or a takeover was interrupted`, {
        hint: 'run `botctl unlock` to clear it',
      });
    }
    throw new LockedError(`another maintenance operation holds the lock on ${dir}: ${describeHolder(other, timeZone)}`, {
      hint:
        other && holderState(other) === 'unknown'
          ? `the lock belongs to host ${other.host}; if that run is dead, \`botctl unlock --force\` removes it`
          : 'wait for it to finish; a lock left by a dead process is taken over automatically (`botctl unlock` removes it now)',
      details: other ? { lock: other } : undefined,
    });
  }
}

/** Runs `fn` under the lock and always releases it. */
export async function withLock<T>(dir: string, command: string, fn: () => Promise<T>, clock?: Clock, timeZone?: string): Promise<T> {
  const lock = acquireLock(dir, command, clock, timeZone);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

export interface UnlockResult {
  removed: (LockInfo & { state: HolderState })[];
  /** Takeover guards left by an interrupted takeover. */
  guards_removed: string[];
}

/**
 * `botctl unlock`: removes the lock when its holder is dead (restic's `unlock`), and leftover
 * takeover guards. A live lock is refused with LOCKED; one taken on another host only with `force`.
 */
export function unlockStale(dir: string, opts: { force?: boolean; timeZone?: string } = {}): UnlockResult {
  const file = path.join(dir, LOCK_FILE);
  const result: UnlockResult = { removed: [], guards_removed: [] };
  const observed = readText(file);
  if (observed !== undefined) {
    const info = parseLock(observed);
    const state: HolderState = info ? holderState(info) : 'dead';
    if (state === 'alive') {
      throw new LockedError(`${describeHolder(info, opts.timeZone)} is running and holds the lock on ${dir}; not removing it`, {
        hint: 'wait for it to finish, or stop that process first',
        details: { lock: info },
      });
    }
    if (state === 'unknown' && !opts.force) {
      throw new LockedError(
        `the lock on ${dir} was taken on host ${info!.host}, where botctl cannot tell whether ${describeHolder(info, opts.timeZone)} still runs`,
        {
          hint: 'if that run is dead, pass --force',
          details: { lock: info },
        },
      );
    }
    if (removeStale(file, observed)) result.removed.push({ ...(info ?? { pid: 0, host: '?', started_at: '?', command: '(unreadable lock file)' }), state });
  }
  for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    if (!name.startsWith(`${LOCK_FILE}${TAKEOVER_MARK}`)) continue;
    const guardInfo = parseLock(readText(path.join(dir, name)));
    if (guardInfo && holderState(guardInfo) === 'alive') continue;
    fs.rmSync(path.join(dir, name), { force: true });
    result.guards_removed.push(name);
  }
  return result;
}
