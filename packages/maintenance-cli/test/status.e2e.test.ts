import fs from 'node:fs';
import path from 'node:path';
import { FixedClock, loadConfig, writeHeartbeat } from '@botctl/core';
import { LocalDirStorage, offsiteStorage, tenantStatus, type StatusLine } from '@botctl/maintenance';
import {
  createTenant,
  FAKE_OWNER_TOKEN,
  FAKE_SHOP_TOKEN,
  type FakeBotApi,
  runBotctl,
  startFakeBotApi,
  type Tenant,
  maintenanceLog,
  fakeTelegramEnv,
} from '@botctl/test-utils';
import { botctl, useCluster } from './harness.js';

let host: string;
let api: FakeBotApi;
let t: Tenant;

const suite = useCluster('botctl-status-');

beforeAll(async () => {
  host = path.join(suite.work, 'host');
  fs.mkdirSync(host);
  api = await startFakeBotApi({ tokens: [FAKE_SHOP_TOKEN, FAKE_OWNER_TOKEN] });
  t = await createTenant({
    cluster: suite.cluster,
    parentDir: host,
    extraEnv: {
      ...fakeTelegramEnv(api, '7001'),
      HEALTH_SKIP_CHECKS: 'cpu,memory,disk',
    },
  });
});

afterAll(async () => {
  await api?.close();
});

const run = (...args: string[]) => botctl(t, args);
const marks = (checks: StatusLine[]) => Object.fromEntries(checks.map((c) => [c.id, c.mark]));

async function statusAt(at: Date): Promise<Record<string, string>> {
  const { config } = loadConfig({ envFile: t.envFile, env: {} });
  return marks(
    await tenantStatus({
      config,
      local: new LocalDirStorage(config.backup.localDir, 'local'),
      offsite: offsiteStorage(config),
      clock: new FixedClock(at),
    }),
  );
}

describe("botctl status: the plan's checklist from facts", () => {
  it('goes from ✗ to ✓ line by line as the facts appear, and back to ⚠/✗ as they age', async () => {
    const first = await run('status', '--json');
    expect(first.exitCode).toBe(2);
    const j = JSON.parse(first.stdout);
    expect(j.status).toBe('fail');
    expect(marks(j.checks)).toEqual({
      backups: 'fail',
      offsite: 'fail',
      monitoring: 'fail',
      logs: 'ok',
      updates: 'warn',
      // Never drilled: a warning, as healthcheck's backup_drill says (one judgement for both).
      recovery: 'warn',
      audit: 'fail',
      bot: 'fail',
    });
    expect(j.checks.map((c: StatusLine) => c.label)[0]).toBe('Backup database & konfigurasi berjalan otomatis');

    // The facts: a backup copied offsite, a drill, a health check with a delivered alert, a journal
    // entry, a running bot.
    expect((await run('--no-alert', 'backup', 'create', '--offsite')).exitCode).toBe(0);
    expect((await run('--no-alert', 'backup', 'drill')).exitCode).toBe(0);
    expect((await run('alert', 'test')).exitCode).toBe(0);
    await run('--no-alert', 'healthcheck');
    const journal = await run('journal', 'add', '--kind', 'update', 'telegraf 4.16.3 → 4.16.4, tested on staging');
    expect(journal.exitCode).toBe(0);
    await writeHeartbeat(path.join(t.dir, 'state'), { service: 'bot', version: '1.0.0', started_at: new Date().toISOString(), at: new Date().toISOString() });

    const now = await run('status', '--json');
    expect(JSON.parse(now.stdout).checks.filter((c: StatusLine) => c.mark !== 'ok')).toEqual([]);
    expect(now.exitCode).toBe(0);
    const text = await run('status');
    expect(text.stdout).toMatch(/^✓ Backup offsite aktif & terverifikasi\n {4}backup-\d{8}-\d{6}\.tar\.gz\.enc offsite, same size and SHA-256/m);
    expect(text.stdout).toMatch(/✓ Update dependency & patch terdokumentasi\n {4}last update .* ago: telegraf 4\.16\.3 → 4\.16\.4, tested on staging/);
    expect(maintenanceLog(t)).toMatch(/\[INFO\] \[journal\] update: telegraf 4\.16\.3 → 4\.16\.4, tested on staging/);

    // The same facts, later (fake clock): each line ages on its own threshold.
    const h = (n: number) => new Date(Date.now() + n * 3_600_000);
    expect(await statusAt(h(0.01))).toMatchObject({ backups: 'ok', bot: 'ok', monitoring: 'ok', recovery: 'ok', updates: 'ok' });
    expect(await statusAt(h(30))).toMatchObject({ backups: 'warn', monitoring: 'fail', bot: 'fail', audit: 'warn' });
    expect(await statusAt(h(60))).toMatchObject({ backups: 'fail' });
    expect(await statusAt(h(24 * 40))).toMatchObject({ recovery: 'warn', updates: 'warn', audit: 'fail' });
    expect(await statusAt(h(24 * 70))).toMatchObject({ recovery: 'fail' });

    // The offsite copy goes missing: ✗; a log older than the retention is still there: ⚠.
    for (const f of fs.readdirSync(t.offsiteDir)) fs.rmSync(path.join(t.offsiteDir, f), { recursive: true });
    const old = new Date(Date.now() - 95 * 86_400_000).toISOString().slice(0, 10);
    fs.writeFileSync(path.join(t.logDir, 'bot-order', `${old}.log`), `[${old} 10:00:00] [INFO] x\n`);
    expect(await statusAt(h(0.01))).toMatchObject({ offsite: 'fail', logs: 'warn' });
    const after = await run('--no-alert', 'logs', 'rotate');
    expect(after.exitCode).toBe(0);
    expect(await statusAt(h(0.01))).toMatchObject({ logs: 'ok' });

    // A bot job failing run after run: the bot line says which (healthcheck's `jobs`).
    const records = {
      started_at: new Date().toISOString(),
      pid: 1,
      jobs: {
        snk_purge: {
          last_run_at: new Date().toISOString(),
          consecutive_failures: 4,
          runs: 9,
          last_error: 'relation "product_term_submissions" does not exist',
        },
      },
    };
    fs.writeFileSync(path.join(t.dir, 'state', 'jobs-bot.json'), JSON.stringify(records));
    const jobs = JSON.parse((await run('status', '--json')).stdout).checks.find((c: StatusLine) => c.id === 'bot');
    expect(jobs.mark).toBe('fail');
    expect(jobs.fact).toMatch(/jobs: snk_purge failed 4 run\(s\) in a row/);
    fs.rmSync(path.join(t.dir, 'state', 'jobs-bot.json'));

    // Owner alerts switched off: honoured, and said everywhere instead of looking fine.
    t.setEnv({ ENABLE_OWNER_ALERTS: 'false' });
    const monitoring = JSON.parse((await run('status', '--json')).stdout).checks.find((c: StatusLine) => c.id === 'monitoring');
    expect(monitoring.mark).toBe('warn');
    expect(monitoring.fact).toMatch(/owner alerts are switched off \(ENABLE_OWNER_ALERTS=false\): the owners hear of no problem/);
    const sentBefore = api.calls.length;
    const test = await run('alert', 'test');
    expect(test.exitCode).toBe(3);
    expect(test.stderr).toMatch(/switched off[\s\S]*ENABLE_OWNER_ALERTS=true/);
    expect(api.calls.length).toBe(sentBefore);
    t.setEnv({ ENABLE_OWNER_ALERTS: undefined });
  });

  it('reports the whole host: repeated --env-file, or a folder of tenants, one row each; a broken tenant is a ✗ row', async () => {
    const other = await createTenant({ cluster: suite.cluster, parentDir: host, seed: false });
    const both = await runBotctl(['--env-file', t.envFile, '--env-file', other.envFile, 'status', '--json'], { cwd: suite.work });
    const j = JSON.parse(both.stdout);
    expect(j.tenants.map((r: { store_name: string }) => r.store_name)).toEqual([
      fs.readFileSync(t.envFile, 'utf8').match(/BOT_STORE_NAME=(.*)/)![1],
      fs.readFileSync(other.envFile, 'utf8').match(/BOT_STORE_NAME=(.*)/)![1],
    ]);
    expect(both.exitCode).toBe(2);

    fs.writeFileSync(path.join(host, 'broken.env'), 'BOT_TIMEZONE=Mars/Olympus\n');
    const dir = await runBotctl(['--env-file', host, 'status'], { cwd: suite.work });
    expect(dir.exitCode).toBe(2);
    const lines = dir.stdout.split('\n');
    expect(lines[0]).toMatch(/^TENANT\s+BACKUPS\s+OFFSITE\s+MONITORING\s+LOGS\s+UPDATES\s+RECOVERY\s+AUDIT\s+BOT\s+RECOVERY POINT\s+ENV FILE$/);
    // Without WAL archiving the recovery point is the newest backup; a tenant with none has none.
    expect(lines.find((l) => l.includes(path.relative(suite.work, t.envFile)) || l.endsWith(t.envFile))).toMatch(/ \d+[mhd] \(backup\) /);
    expect(lines.find((l) => l.endsWith(other.envFile))).toMatch(/ none /);
    expect(j.tenants[0].recovery_point).toMatchObject({ source: 'backup', at: expect.stringMatching(/^\d{4}-/) });
    expect(j.tenants[1].recovery_point).toEqual({ source: 'none', at: null, offsite_at: null, fact: 'recovery point: none, no complete backup' });
    expect(lines.filter((l) => /tenant-\d+\/\.env$|broken\.env$/.test(l))).toHaveLength(3);
    expect(dir.stdout).toMatch(/BOT_TIMEZONE is not an IANA time zone/);

    const refused = await runBotctl(['--env-file', t.envFile, '--env-file', other.envFile, 'backup', 'list'], { cwd: suite.work });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/only `botctl status` takes several tenants/);
    fs.rmSync(path.join(host, 'broken.env'));
  });

  it('bin/botctl reports a missing --env-file itself (exit 3), not Node (which scans script arguments for --env-file)', async () => {
    const { execa } = await import('execa');
    const bin = path.resolve(import.meta.dirname, '../../../bin/botctl');
    const r = await execa(bin, ['--env-file', path.join(suite.work, 'missing.env'), 'backup', 'list'], { reject: false, cwd: suite.work });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/^botctl: error: invalid configuration: cannot read env file .*missing\.env: no such file$/m);
    const dir = await execa(bin, ['--env-file', host, 'status', '--json'], { reject: false, cwd: suite.work });
    expect(JSON.parse(dir.stdout).tenants.length).toBeGreaterThanOrEqual(2);
  });
});
