import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ExitCode, LockedError } from '@botctl/core';
import { acquireLock, LOCK_FILE, readLock, withLock } from './maintenance-lock.js';

describe('maintenance lock', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lock-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('records pid, host, start time and command, and releases', () => {
    const lock = acquireLock(dir, 'backup create');
    expect(readLock(dir)).toMatchObject({ pid: process.pid, host: os.hostname(), command: 'backup create' });
    lock.release();
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });

  it('refuses a second holder while the first is alive, with LOCKED and who holds it', () => {
    const lock = acquireLock(dir, 'backup create');
    try {
      let err: unknown;
      try {
        acquireLock(dir, 'backup verify');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LockedError);
      expect((err as LockedError).exitCode).toBe(ExitCode.LOCKED);
      expect((err as Error).message).toMatch(new RegExp(`backup create \\(pid ${process.pid}`));
    } finally {
      lock.release();
    }
  });

  it('takes over a lock left by a dead process on this host', () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const deadPid = Number(dead.stdout.toString());
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid, host: os.hostname(), started_at: 'x', command: 'old' }));
    const lock = acquireLock(dir, 'backup create');
    expect(readLock(dir)?.pid).toBe(process.pid);
    lock.release();
  });

  it('does not take over a lock from another host', () => {
    fs.writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'other-host', started_at: 'x', command: 'backup create' }));
    expect(() => acquireLock(dir, 'x')).toThrow(/other-host/);
  });

  it('withLock releases even when the work fails', async () => {
    await expect(withLock(dir, 'x', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });
});
