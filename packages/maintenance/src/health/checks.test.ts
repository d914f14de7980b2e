import { FixedClock, parseConfig, Redactor } from '@botctl/core';
import { MemoryStorage } from '../storage/memory-storage.js';
import { type CheckResult, runChecks } from './checks.js';
import type { FsUsage, SystemProbe } from './system.js';

const GiB = 1024 ** 3;

function fakeSystem(over: { cpu?: number; memUsed?: number; usedRatio?: number; available?: number } = {}): SystemProbe {
  return {
    cpuBusy: async () => over.cpu ?? 0.1,
    memory: () => ({ total: 8 * GiB, available: 8 * GiB * (1 - (over.memUsed ?? 0.3)) }),
    filesystem: async (dir): Promise<FsUsage> => ({
      dev: 1,
      path: dir,
      total: 100 * GiB,
      available: over.available ?? 50 * GiB,
      usedRatio: over.usedRatio ?? 0.5,
    }),
    dirSize: async () => 1024,
  };
}

async function checks(system: SystemProbe, env: Record<string, string> = {}, local = new MemoryStorage()): Promise<Record<string, CheckResult>> {
  const parsed = parseConfig({ HEALTH_SKIP_CHECKS: 'database,telegram,bot_process,backup_offsite,maintenance_lock', ...env }, { baseDir: '/srv/toko' });
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
    JSON.stringify({
      format: 'botctl-backup-sidecar',
      name,
      size,
      sha256: 'a'.repeat(64),
      created_at: '2026-11-24T02:00:00Z',
      kind: 'scheduled',
      duration_ms: 1000,
    }),
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
    expect(warn).toMatchObject({
      status: 'warning',
      fact: 'backups+logs+data 90% used (50.0 GiB free); warning at 85%, critical at 95% or when the next backup may not fit',
    });
    expect((await checks(fakeSystem({ usedRatio: 0.96 }))).disk!.status).toBe('critical');
  });

  it('disk at 97 % is critical whatever HEALTH_DISK_THRESHOLD says, and backup_space agrees', async () => {
    const local = await storageWithBackup(1 * GiB);
    const c = await checks(fakeSystem({ usedRatio: 0.97, available: 3 * GiB }), { HEALTH_DISK_THRESHOLD: '99' }, local);
    expect(c.disk!.status).toBe('critical');
    expect(c.backup_space!.status).toBe('critical');
    expect(c.backup_space!.fact).toMatch(/room for 0 more archive/);
  });

  it('one rule for disk and backup_space: critical when the next backup (+20 %) may not fit before the last 5 % of the disk', async () => {
    // 100 GiB disk, 10 GiB archives: 5 GiB are the last 5 %, each archive needs 12 GiB.
    const local = await storageWithBackup(10 * GiB);
    const at = async (available: number) => checks(fakeSystem({ available, usedRatio: 1 - available / (100 * GiB) }), {}, local);
    expect((await at(35 * GiB)).backup_space!.status).toBe('ok');
    const warn = (await at(20 * GiB)).backup_space!;
    expect(warn).toMatchObject({
      status: 'warning',
      fact: '20.0 GiB free, 15.0 GiB before the last 5 % of the disk: room for 1 more archive(s) of 10.0 GiB (+20 %)',
    });
    const crit = await at(12 * GiB);
    expect(crit.backup_space!.status).toBe('critical');
    // The disk check says the same of the filesystem the backups are on, though it is only 88 % full.
    expect(crit.disk!.status).toBe('critical');
  });

  it('no backup at all is critical; never verified or drilled are warnings', async () => {
    const c = await checks(fakeSystem());
    expect(c.backup_age!.status).toBe('critical');
    expect(c.backup_verify!.status).toBe('warning');
    expect(c.backup_drill!.status).toBe('warning');
  });

  it('HEALTH_SKIP_CHECKS leaves checks out', async () => {
    const c = await checks(fakeSystem(), {
      HEALTH_SKIP_CHECKS: 'cpu,memory,disk,log_size,backup_age,backup_offsite,backup_verify,backup_drill,maintenance_lock,backup_space,jobs,database,telegram',
    });
    expect(Object.keys(c)).toEqual(['bot_process']);
  });
});
