import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bootId, classifyIoError, type Clock, holderState, LockedError, processStartTime } from '@botctl/core';
import { acquireLock, type HeldLock } from '../lock/maintenance-lock.js';

// A point-in-time restore replays from one base backup and every WAL file after its start; the
// cluster's `cluster prune` must not remove them meanwhile. The restore writes a hold
// (`<cluster BACKUP_LOCAL_DIR>/holds/<token>.json`) naming what it uses, under the cluster's
// maintenance lock, and removes it when done; prune holds that lock for its whole run and keeps
// whatever a live hold names. So a prune either finished before the restore chose its base backup,
// or it sees the hold. A hold whose process is gone (killed, host rebooted) is stale: the next
// prune removes it.

const HOLDS_DIR = 'holds';

export interface ClusterHold {
  pid: number;
  host: string;
  boot_id?: string;
  pid_start?: number;
  started_at: string;
  /** Who holds it: `backup restore --to-time (toko1)`. */
  command: string;
  /** The base backup replayed from, and the first WAL file it needs. */
  base: string;
  start_wal: string;
}

export interface HeldBase<T> {
  picked: T;
  hold: ClusterHold;
  release(): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The cluster's maintenance lock, waited for up to `waitSeconds` while another prune or hold
 * writer has it (each holds it briefly or for a prune's run); LOCKED after that.
 */
export async function clusterLock(dir: string, command: string, clock: Clock, timeZone: string, waitSeconds: number): Promise<HeldLock> {
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    try {
      return acquireLock(dir, command, clock, timeZone);
    } catch (error) {
      if (!(error instanceof LockedError) || Date.now() >= deadline) throw error;
      await sleep(250);
    }
  }
}

/**
 * Chooses a base backup (`pick`) and writes its hold under the cluster's lock; the returned
 * release removes the hold (call it in a finally).
 */
export async function holdBaseBackup<T extends { base: { name: string; start_wal: string } }>(
  clusterDir: string,
  command: string,
  clock: Clock,
  timeZone: string,
  waitSeconds: number,
  pick: () => Promise<T>,
): Promise<HeldBase<T>> {
  const lock = await clusterLock(clusterDir, command, clock, timeZone, waitSeconds);
  try {
    const picked = await pick();
    const dir = path.join(clusterDir, HOLDS_DIR);
    const hold: ClusterHold = {
      pid: process.pid,
      host: os.hostname(),
      ...(bootId() ? { boot_id: bootId()! } : {}),
      ...(processStartTime(process.pid) !== undefined ? { pid_start: processStartTime(process.pid)! } : {}),
      started_at: clock.now().toISOString(),
      command,
      base: picked.base.name,
      start_wal: picked.base.start_wal,
    };
    const file = path.join(dir, `${randomBytes(8).toString('hex')}.json`);
    try {
      await fsp.mkdir(dir, { recursive: true });
      const fh = await fsp.open(file, 'wx', 0o644);
      try {
        await fh.writeFile(`${JSON.stringify(hold)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (error) {
      throw classifyIoError(error, `the cluster's hold folder ${dir}`);
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      process.removeListener('exit', release);
      fs.rmSync(file, { force: true });
    };
    process.once('exit', release);
    return { picked, hold, release };
  } finally {
    lock.release();
  }
}

/** The holds of live processes (call under the cluster's lock); stale ones are removed. */
export async function liveHolds(clusterDir: string): Promise<ClusterHold[]> {
  const dir = path.join(clusterDir, HOLDS_DIR);
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const live: ClusterHold[] = [];
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    const file = path.join(dir, name);
    let hold: ClusterHold | undefined;
    try {
      hold = JSON.parse(await fsp.readFile(file, 'utf8')) as ClusterHold;
    } catch {
      hold = undefined;
    }
    // A hold is written whole before the lock is released: one that cannot be read is debris.
    if (!hold || typeof hold.pid !== 'number' || typeof hold.base !== 'string' || holderState(hold) === 'dead') {
      await fsp.rm(file, { force: true });
      continue;
    }
    live.push(hold);
  }
  return live;
}
