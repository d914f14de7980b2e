import { FixedClock, parseConfig, Redactor } from '@botctl/core';
import { MemoryStorage } from '../storage/memory-storage.js';
import { type CheckResult, runChecks } from './checks.js';
import type { FsUsage, SystemProbe } from './system.js';

const GiB = 1024 ** 3;

function fakeSystem(over: { cpu?: number; memUsed?: number; usedRatio?: number; available?: number } = {}): SystemProbe {
  return {
    cpuBusy: async () => over.cpu ?? 0.1,
    memory: () => ({ total: 8 * GiB, available: 8 * GiB * (1 - (over.memUsed ?? 0.3)) }),
    filesystem: async (dir): Promise<FsUsage> => ({ dev: 1, path: dir, total: 100 * GiB, available: over.available ?? 50 * GiB, usedRatio: over.usedRatio ?? 0.5 }),
    dirSize: async () => 1024,
  };
}

async function checks(system: SystemProbe, env: Record<string, string> = {}, local = new MemoryStorage()): Promise<Record<string, CheckResult>> {
  const parsed = parseConfig(
    { HEALTH_SKIP_CHECKS: 'database,telegram,bot_process,backup_offsite,maintenance_lock', ...env },
    { baseDir: '/srv/toko' },
  );
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  const { checks: list } = await runChecks({
    config: parsed.config,
    local,
    offsite: undefined,
    clock: new FixedClock(new Date('2026-11-24T03:00:00Z')),
    system,
    redactor: new Redactor(),
    cpuSampleMs: 1,
  });
  return Object.fromEntries(list.map((c) => [c.id, c]));
}

async function storageWithBackup(size: number): Promise<MemoryStorage> {
  const s = new MemoryStorage();
  const name = 'backup-20261124-090000.tar.gz.enc';
  await s.writeSmall(name, 'x');
  await s.writeSmall(
    `${name}.meta.json`,
    JSON.stringify({ format: 'botctl-backup-sidecar', name, size, sha256: 'a'.repeat(64), created_at: '2026-11-24T02:00:00Z', kind: 'scheduled', duration_ms: 1000 }),
  );
  return s;
}

describe('resource checks (fake probe)', () => {
  it('CPU over HEALTH_CPU_THRESHOLD is a warning, never critical', async () => {
    expect((await checks(fakeSystem({ cpu: 0.5 }))).cpu).toMatchObject({ status: 'ok', fact: '50% busy (threshold 80%)' });
    expect((await checks(fakeSystem({ cpu: 0.85 }))).cpu!.status).toBe('warning');
    expect((await checks(fakeSystem({ cpu: 1 }))).cpu!.status).toBe('warning');
    expect((await checks(fakeSystem({ cpu: 0.5 }), { HEALTH_CPU_THRESHOLD: '40' })).cpu!.status).toBe('warning');
  });

  it('memory: warning at the threshold, critical at 95%', async () => {
    expect((await checks(fakeSystem({ memUsed: 0.5 }))).memory!.status).toBe('ok');
    expect((await checks(fakeSystem({ memUsed: 0.85 }))).memory!.status).toBe('warning');
    expect((await checks(fakeSystem({ memUsed: 0.97 }))).memory!.status).toBe('critical');
  });

  it('disk: warning at HEALTH_DISK_THRESHOLD, critical at 95%', async () => {
    expect((await checks(fakeSystem({ usedRatio: 0.5 }))).disk!.status).toBe('ok');
    const warn = (await checks(fakeSystem({ usedRatio: 0.9 }))).disk!;
    expect(warn).toMatchObject({ status: 'warning', fact: 'backups+logs+data 90% used (50.0 GiB free); threshold 85%' });
    expect((await checks(fakeSystem({ usedRatio: 0.96 }))).disk!.status).toBe('critical');
  });

  it('room for two more archives of the last size, else warning; less than one, critical', async () => {
    const local = await storageWithBackup(10 * GiB);
    expect((await checks(fakeSystem({ available: 25 * GiB }), {}, local)).backup_space!.status).toBe('ok');
    expect((await checks(fakeSystem({ available: 15 * GiB }), {}, local)).backup_space).toMatchObject({
      status: 'warning',
      fact: '15.0 GiB free: room for 1 more archive(s) of 10.0 GiB (need 2)',
    });
    expect((await checks(fakeSystem({ available: 5 * GiB }), {}, local)).backup_space!.status).toBe('critical');
  });

  it('no backup at all is critical; never verified or drilled are warnings', async () => {
    const c = await checks(fakeSystem());
    expect(c.backup_age!.status).toBe('critical');
    expect(c.backup_verify!.status).toBe('warning');
    expect(c.backup_drill!.status).toBe('warning');
  });

  it('HEALTH_SKIP_CHECKS leaves checks out', async () => {
    const c = await checks(fakeSystem(), { HEALTH_SKIP_CHECKS: 'cpu,memory,disk,log_size,backup_age,backup_offsite,backup_verify,backup_drill,maintenance_lock,backup_space,database,telegram' });
    expect(Object.keys(c)).toEqual(['bot_process']);
  });
});
