import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HEALTH_CHECK_IDS, writeHeartbeat } from '@botctl/core';
import {
  FAKE_OWNER_TOKEN as OWNER_TOKEN,
  FAKE_SHOP_TOKEN as SHOP_TOKEN,
  type FakeBotApi,
  parseJsonOutput,
  startFakeBotApi,
  type Tenant,
  maintenanceLog,
} from '@botctl/test-utils';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { botctl, useCluster } from './harness.js';

let api: FakeBotApi;

const suite = useCluster('botctl-health-');

beforeAll(async () => {
  api = await startFakeBotApi({ tokens: [SHOP_TOKEN, OWNER_TOKEN] });
});

afterAll(async () => {
  await api?.close();
});

interface Check {
  id: string;
  status: string;
  fact: string;
}
interface Report {
  status: string;
  exit_code: number;
  summary: string;
  checks: Check[];
  metrics: Record<string, unknown>;
  alerts: { kind: string; checks: string[]; delivered: boolean; detail: string }[];
  textfile: string | null;
}

const health = async (t: Tenant, args: string[] = []) => {
  const run = await botctl(t, ['healthcheck', '--json', ...args]);
  return { run, report: parseJsonOutput<Report>(run) };
};

const check = (r: Report, id: string): Check | undefined => r.checks.find((c) => c.id === id);
const statusOf = (r: Report, id: string) => check(r, id)?.status;

/** Messages the owners got through the notification bot (not the shop bot). */
const ownerMessages = () =>
  api
    .callsTo('sendMessage', OWNER_TOKEN)
    .map((c) => ({ chat: Number(c.params.chat_id), text: String(c.params.text), silent: c.params.disable_notification === true }));

const beat = (t: Tenant, at = new Date(), startedAt = new Date(Date.now() - 3_600_000)) =>
  writeHeartbeat(path.join(t.dir, 'state'), { service: 'bot', version: 'test', started_at: startedAt.toISOString(), at: at.toISOString() });

/** A tenant whose every check is green: backup offsite, verified, drilled; bot heartbeat fresh. */
async function healthyTenant(extra: Record<string, string> = {}): Promise<Tenant> {
  const t = await suite.tenant({
    extraEnv: {
      TELEGRAM_BOT_TOKEN: SHOP_TOKEN,
      OWNER_BOT_TOKEN: OWNER_TOKEN,
      TELEGRAM_OWNER_IDS: '7001,7002',
      TELEGRAM_API_ROOT: api.url,
      // CPU is measured with a fake probe in checks.test.ts: under a parallel test run it is noise.
      HEALTH_SKIP_CHECKS: 'cpu',
      HEALTH_MEMORY_THRESHOLD: '99',
      HEALTH_DISK_THRESHOLD: '99',
      ALERT_TIMEOUT_SECONDS: '8',
      ...extra,
    },
  });
  expect((await botctl(t, ['--no-alert', 'backup', 'create', '--offsite'])).exitCode).toBe(0);
  expect((await botctl(t, ['--no-alert', 'backup', 'drill'])).exitCode).toBe(0);
  await beat(t);
  return t;
}

describe('healthcheck on a healthy tenant', () => {
  let t: Tenant;
  beforeAll(async () => {
    t = await healthyTenant();
  });

  it('exits 0 with a one-line summary first, every check ok, and sends nothing', async () => {
    api.reset();
    const text = await botctl(t, ['healthcheck']);
    expect(text.exitCode).toBe(0);
    // Nagios: the summary, then its performance data after the `|` (label=value[unit];warn;crit;min;max).
    const [summary, perf] = text.stdout.split('\n')[0]!.split(' | ');
    expect(summary).toBe('OK - all 13 checks ok');
    const items = perf!.split(' ');
    for (const item of items) expect(item).toMatch(/^[a-z_]+=\d+(\.\d+)?(s|B|%)?;[\d.]*;[\d.]*;[\d.]*;[\d.]*$/);
    const labels = items.map((i) => i.split('=')[0]);
    expect(labels).toEqual(
      expect.arrayContaining(['backup_age', 'backup_size', 'disk_used', 'memory_used', 'log_size', 'database_response', 'telegram_response']),
    );
    expect(items.find((i) => i.startsWith('backup_age='))).toMatch(/;93600;180000;0;$/);
    const { run, report } = await health(t);
    // --json is unchanged: no performance data in it.
    expect(run.stdout).not.toMatch(/perf/);
    expect(run.exitCode).toBe(0);
    // wal_archive is reported only where WAL archiving is set up (WAL_CLUSTER_ENV_FILE).
    expect(report.checks.map((c) => c.id)).toEqual(HEALTH_CHECK_IDS.filter((id) => id !== 'cpu' && id !== 'wal_archive'));
    expect(report.checks.filter((c) => c.status !== 'ok')).toEqual([]);
    expect(report.checks.every((c) => c.fact.length > 0)).toBe(true);
    expect(ownerMessages()).toEqual([]);
    expect(api.callsTo('getMe', SHOP_TOKEN)).toHaveLength(2);
    // Light metrics: today's shop figures from the sample data, uptime from the heartbeat.
    expect(typeof report.metrics.transactions_today).toBe('number');
    expect(report.metrics.bot_uptime_seconds).toBeGreaterThanOrEqual(3599);
    const log = maintenanceLog(t);
    expect(log).toMatch(/\[INFO\] Health-check: OK - all 13 checks ok \[RAM \d+%, disk \d+%\]/);
  });

  it('--textfile writes valid Prometheus exposition atomically', async () => {
    const dir = path.join(t.dir, 'textfile');
    const { run, report } = await health(t, ['--textfile', dir, '--no-alert']);
    expect(run.exitCode).toBe(0);
    expect(fs.readdirSync(dir)).toEqual([path.basename(report.textfile!)]);
    expect(report.textfile).toMatch(/botctl_toko_test_\d+\.prom$/);
    const body = fs.readFileSync(report.textfile!, 'utf8');
    expect(body.endsWith('\n')).toBe(true);
    // Strict line grammar of the text format, and HELP/TYPE once before each family's samples.
    const seen = new Set<string>();
    let current = '';
    for (const line of body.trimEnd().split('\n')) {
      const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$/.exec(line);
      const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter)$/.exec(line);
      if (help) {
        expect(seen.has(help[1]!)).toBe(false);
        seen.add(help[1]!);
        current = help[1]!;
      } else if (type) expect(type[1]).toBe(current);
      else expect(line).toMatch(new RegExp(`^${current}\\{([a-z_]+="(?:[^"\\\\]|\\\\.)*",?)+\\} -?[0-9.e+-]+$`));
    }
    // And an independent parser reads the same families back.
    const families = parsePrometheusTextFormat(body) as { name: string; metrics: { value: string; labels: Record<string, string> }[] }[];
    const byName = Object.fromEntries(families.map((f) => [f.name, f]));
    expect(byName.botctl_health_status!.metrics[0]!.value).toBe('0');
    const statuses = byName.botctl_check_status!.metrics;
    expect(statuses.map((m) => m.labels.check)).toContain('database');
    expect(statuses.every((m) => m.value === '0' && m.labels.store === t.env().BOT_STORE_NAME)).toBe(true);
    for (const name of [
      'botctl_health_last_run_timestamp_seconds',
      'botctl_check_last_success_timestamp_seconds',
      'botctl_backup_newest_age_seconds',
      'botctl_backup_newest_size_bytes',
      'botctl_backup_newest_duration_seconds',
      'botctl_drill_last_success_timestamp_seconds',
      'botctl_drill_last_restore_seconds',
      'botctl_bot_uptime_seconds',
      'botctl_shop_transactions_today',
    ]) {
      expect(byName[name]).toBeDefined();
    }
    expect(Number(byName.botctl_backup_newest_size_bytes!.metrics[0]!.value)).toBeGreaterThan(1000);
  });
});

describe('checks going bad and recovering', () => {
  let t: Tenant;
  beforeAll(async () => {
    t = await healthyTenant({ HEALTH_ALERT_AFTER: '2' });
  });
  beforeEach(() => api.reset());

  it('a stale heartbeat is critical, alerted at once to every owner, not repeated, then "pulih"', async () => {
    await beat(t, new Date(Date.now() - 10 * 60_000));
    const first = await health(t);
    expect(first.run.exitCode).toBe(2);
    expect(statusOf(first.report, 'bot_process')).toBe('critical');
    expect(first.report.summary).toMatch(/^CRITICAL - bot_process: down: last heartbeat 10 min \d+ s ago/);
    const sent = ownerMessages();
    expect(sent.map((m) => m.chat).sort()).toEqual([7001, 7002]);
    expect(sent[0]!.text).toMatch(
      new RegExp(`^\\[${t.env().BOT_STORE_NAME}\\] ⚠️ Health-check: KRITIS\\n🔴 Proses bot: bot DOWN: heartbeat terakhir 10 menit lalu`),
    );
    expect(sent[0]!.silent).toBe(false);

    api.reset();
    const again = await health(t);
    expect(again.run.exitCode).toBe(2);
    expect(ownerMessages()).toEqual([]);

    await beat(t);
    const back = await health(t);
    expect(back.run.exitCode).toBe(0);
    const recovery = ownerMessages();
    expect(recovery).toHaveLength(2);
    expect(recovery[0]!.text).toMatch(/✅ Pulih\n🟢 Proses bot normal kembali setelah \d+ (detik|menit) bermasalah/);
    api.reset();
    expect((await health(t)).run.exitCode).toBe(0);
    expect(ownerMessages()).toEqual([]);
  });

  it('a warning waits for N consecutive failures, is reminded with only what still fails, and recovers', async () => {
    // Lower a threshold: 1 MiB of logs against LOG_USAGE_THRESHOLD_MB=1.
    t.setEnv({ LOG_USAGE_THRESHOLD_MB: '1' });
    const big = path.join(t.logDir, 'bot-order', '2026-11-21.log');
    fs.writeFileSync(big, 'x'.repeat(2 * 1024 * 1024));
    try {
      const one = await health(t);
      expect(one.run.exitCode).toBe(1);
      expect(statusOf(one.report, 'log_size')).toBe('warning');
      expect(one.report.summary).toMatch(/^WARNING - log_size: 2\.\d+ MiB in .* \(threshold 1\.00 MiB\)/);
      expect(ownerMessages()).toEqual([]);

      const two = await health(t);
      expect(two.run.exitCode).toBe(1);
      expect(ownerMessages().map((m) => m.text)).toEqual([
        expect.stringMatching(/⚠️ Health-check: Peringatan\n🟠 Ukuran log: log 2\.\d+ MiB \(batas 1\.00 MiB\)$/),
        expect.any(String),
      ]);

      // Nothing new: no message, until the reminder is due (move the last alert 5 h back).
      api.reset();
      await health(t);
      expect(ownerMessages()).toEqual([]);
      const stateFile = path.join(t.dir, 'state', 'healthcheck.json');
      const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { last_alert_at: string };
      state.last_alert_at = new Date(Date.now() - 5 * 3_600_000).toISOString();
      fs.writeFileSync(stateFile, JSON.stringify(state));
      await beat(t, new Date(Date.now() - 10 * 60_000)); // a new critical problem in the same run
      await health(t);
      const problem = ownerMessages()[0]!.text;
      // A new problem goes out with what still fails listed under it (that resets the reminder clock).
      expect(problem).toMatch(/KRITIS\n🔴 Proses bot: .*\nMasih bermasalah:\n🟠 Ukuran log: .* \(sejak \d+ (detik|menit) lalu\)/);
      await beat(t);
      api.reset();
      const s2 = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { last_alert_at: string };
      s2.last_alert_at = new Date(Date.now() - 5 * 3_600_000).toISOString();
      fs.writeFileSync(stateFile, JSON.stringify(s2));
      await health(t);
      const texts = ownerMessages().map((m) => m.text);
      expect(texts.filter((x) => x.includes('🔁 Pengingat: masih bermasalah'))).toHaveLength(2);
      const reminder = texts.find((x) => x.includes('Pengingat'))!;
      expect(reminder).toContain('Ukuran log');
      expect(reminder).not.toContain('Proses bot');
      expect(texts.some((x) => /Proses bot normal kembali/.test(x))).toBe(true);
    } finally {
      fs.rmSync(big);
    }
    api.reset();
    const ok = await health(t);
    expect(ok.run.exitCode).toBe(0);
    expect(ownerMessages()[0]!.text).toMatch(/✅ Pulih\n🟢 Ukuran log normal kembali setelah/);
    t.setEnv({ LOG_USAGE_THRESHOLD_MB: undefined });
  });

  it('quiet hours hold warnings back but never criticals', async () => {
    t.setEnv({ HEALTH_QUIET_HOURS: '00:00-23:59', HEALTH_ALERT_AFTER: '1', HEALTH_DISK_THRESHOLD: '1' });
    try {
      const quiet = await health(t);
      expect(statusOf(quiet.report, 'disk')).toBe('warning');
      expect(ownerMessages()).toEqual([]);
      await beat(t, new Date(Date.now() - 3_600_000));
      await health(t);
      const texts = ownerMessages().map((m) => m.text);
      expect(texts).toHaveLength(2);
      expect(texts[0]).toContain('Proses bot');
      expect(texts[0]).not.toContain('Disk');
    } finally {
      t.setEnv({ HEALTH_QUIET_HOURS: undefined, HEALTH_ALERT_AFTER: '2', HEALTH_DISK_THRESHOLD: '99' });
      await beat(t);
      await health(t);
    }
  });

  it('backups: age warns after 26 h and is critical after 50 h; missing offsite copy and changed hash are reported', async () => {
    const name = fs.readdirSync(t.localDir).find((f) => f.endsWith('.tar.gz.enc'))!;
    const sidecarFile = path.join(t.localDir, `${name}.meta.json`);
    const original = fs.readFileSync(sidecarFile, 'utf8');
    const setAge = (h: number) => {
      const s = JSON.parse(original) as { created_at: string };
      s.created_at = new Date(Date.now() - h * 3_600_000).toISOString();
      fs.writeFileSync(sidecarFile, JSON.stringify(s));
    };
    try {
      setAge(30);
      expect(statusOf((await health(t, ['--no-alert'])).report, 'backup_age')).toBe('warning');
      setAge(60);
      const old = await health(t, ['--no-alert']);
      expect(statusOf(old.report, 'backup_age')).toBe('critical');
      expect(old.run.exitCode).toBe(2);
    } finally {
      fs.writeFileSync(sidecarFile, original);
    }
    const offSidecar = path.join(t.offsiteStoreDir, `${name}.meta.json`);
    const offOriginal = fs.readFileSync(offSidecar, 'utf8');
    try {
      fs.writeFileSync(offSidecar, offOriginal.replace(/"sha256": "[0-9a-f]{64}"/, `"sha256": "${'0'.repeat(64)}"`));
      const differs = await health(t, ['--no-alert']);
      expect(check(differs.report, 'backup_offsite')).toMatchObject({ status: 'critical', fact: expect.stringContaining('differs') });
      fs.rmSync(offSidecar);
      const missing = await health(t, ['--no-alert']);
      // Nothing offsite at all: critical, as status says ✗ (one judgement for both).
      expect(check(missing.report, 'backup_offsite')).toMatchObject({ status: 'critical', fact: expect.stringContaining('is not offsite (nothing there)') });
    } finally {
      fs.writeFileSync(offSidecar, offOriginal);
    }
    expect((await health(t, ['--no-alert'])).run.exitCode).toBe(0);
  });

  it('a lock held too long or left by a dead process is reported', async () => {
    const lockFile = path.join(t.localDir, '.botctl.lock');
    const write = (pid: number, minutesAgo: number) =>
      fs.writeFileSync(
        lockFile,
        JSON.stringify({ pid, host: os.hostname(), started_at: new Date(Date.now() - minutesAgo * 60_000).toISOString(), command: 'backup create' }),
      );
    try {
      write(process.pid, 240);
      expect(check((await health(t, ['--no-alert'])).report, 'maintenance_lock')).toMatchObject({
        status: 'warning',
        fact: expect.stringMatching(/held by backup create .* hung\?/),
      });
      write(2 ** 22 + 12345, 1);
      expect(check((await health(t, ['--no-alert'])).report, 'maintenance_lock')).toMatchObject({ status: 'warning', fact: expect.stringContaining('stale') });
    } finally {
      fs.rmSync(lockFile, { force: true });
    }
  });

  it('a revoked shop bot token is critical; Telegram hanging is critical after the timeout', async () => {
    t.setEnv({ TELEGRAM_BOT_TOKEN: '7033333333:AAHrevokedTokenForTests_ccccccccccc', HEALTH_TELEGRAM_TIMEOUT_SECONDS: '1' });
    try {
      const bad = await health(t, ['--no-alert']);
      expect(check(bad.report, 'telegram')).toMatchObject({ status: 'critical', fact: expect.stringContaining('rejected (401)') });
      expect(bad.run.stdout).not.toContain('revoked-token');
      t.setEnv({ TELEGRAM_BOT_TOKEN: SHOP_TOKEN });
      api.always('getMe', { hang: true });
      const started = Date.now();
      const hung = await health(t, ['--no-alert']);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(check(hung.report, 'telegram')).toMatchObject({ status: 'critical', fact: expect.stringContaining('no answer in time') });
    } finally {
      api.always('getMe', undefined);
      t.setEnv({ HEALTH_TELEGRAM_TIMEOUT_SECONDS: undefined, TELEGRAM_BOT_TOKEN: SHOP_TOKEN });
    }
  });
});

describe('alert delivery', () => {
  let t: Tenant;
  beforeAll(async () => {
    t = await healthyTenant();
  });
  beforeEach(() => api.reset());

  it('alert test reaches every owner with the store name; 403 is explained and fails the command', async () => {
    const ok = await botctl(t, ['alert', 'test']);
    expect(ok.exitCode).toBe(0);
    expect(ownerMessages().map((m) => m.text)).toEqual([
      expect.stringMatching(new RegExp(`^\\[${t.env().BOT_STORE_NAME}\\] 🔔 Tes alert`)),
      expect.any(String),
    ]);

    api.reset();
    api.forChat(7002, { status: 403 });
    const partial = await botctl(t, ['alert', 'test']);
    expect(partial.exitCode).toBe(5);
    expect(partial.stdout).toMatch(/FAILED\s+owner 7002: the owner has not pressed \/start on the notification bot/);

    api.forChat(7001, { status: 403 });
    const none = await botctl(t, ['alert', 'test', '--json']);
    expect(none.exitCode).toBe(15);
    expect(none.stderr).toContain('owner alert not delivered to anyone');
    expect(none.stderr).toMatch(/hint: each owner must press \/start/);
    expect(none.stderr + none.stdout).not.toContain(OWNER_TOKEN);
    api.forChat(7001, undefined);
    api.forChat(7002, undefined);
  });

  it('retries 429 after retry_after and 5xx with backoff, then delivers', async () => {
    api.queue('sendMessage', { status: 429, retryAfter: 1 }, { status: 500 }, { status: 502 });
    const started = Date.now();
    const run = await botctl(t, ['alert', 'test', '--json']);
    expect(run.exitCode).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(parseJsonOutput<{ delivered: number[] }>(run).delivered.sort()).toEqual([7001, 7002]);
    expect(api.callsTo('sendMessage', OWNER_TOKEN)).toHaveLength(5);
  });

  it('gives up within ALERT_TIMEOUT_SECONDS when Telegram hangs or keeps failing, and says so', async () => {
    t.setEnv({ ALERT_TIMEOUT_SECONDS: '5' });
    api.always('sendMessage', { hang: true });
    const started = Date.now();
    const run = await botctl(t, ['alert', 'test']);
    expect(run.exitCode).toBe(15);
    expect(Date.now() - started).toBeLessThan(12_000);
    expect(run.stdout).toMatch(/owner 7001: Telegram sendMessage: no answer in time \(gave up after \d+ attempts\)/);
    api.always('sendMessage', { status: 500 });
    const failing = await botctl(t, ['alert', 'test']);
    expect(failing.exitCode).toBe(15);
    expect(failing.stdout).toMatch(/500 Internal Server Error \(gave up after \d+ attempts\)/);
    api.always('sendMessage', undefined);
    t.setEnv({ ALERT_TIMEOUT_SECONDS: '8' });
  });

  it('an undeliverable health alert makes the run critical (exit 2) and is tried again next run', async () => {
    api.always('sendMessage', { status: 403 });
    await beat(t, new Date(Date.now() - 3_600_000));
    const first = await health(t);
    expect(first.run.exitCode).toBe(2);
    expect(check(first.report, 'alerts')).toMatchObject({ status: 'critical', fact: expect.stringContaining('not pressed /start') });
    expect(first.run.stderr).toContain('owner alert not delivered to anyone');
    api.always('sendMessage', undefined);
    api.reset();
    await health(t);
    expect(ownerMessages().map((m) => m.text)).toEqual([expect.stringContaining('Proses bot'), expect.any(String)]);
    await beat(t);
    await health(t);
  });

  it('backup commands: success is silent, failure is loud and carries no secret; an undelivered success exits 15', async () => {
    const ok = await botctl(t, ['backup', 'create']);
    expect(ok.exitCode).toBe(0);
    const [good] = ownerMessages();
    expect(good!.silent).toBe(true);
    expect(good!.text).toMatch(/✅ Backup selesai: backup-\d{8}-\d{6}\.tar\.gz\.enc \(.*, \d+ tabel, \d+ baris, .*, offsite: tidak\)/);

    api.reset();
    const password = new URL(t.env().DATABASE_URL!).password;
    const url = new URL(t.env().DATABASE_URL!);
    url.port = '1';
    const realUrl = t.env().DATABASE_URL!;
    t.setEnv({ DATABASE_URL: url.toString() });
    const failed = await botctl(t, ['backup', 'create']);
    t.setEnv({ DATABASE_URL: realUrl });
    expect(failed.exitCode).toBe(6);
    const [bad] = ownerMessages();
    expect(bad!.silent).toBe(false);
    expect(bad!.text).toMatch(/❌ Backup GAGAL\n.*\nSaran: /);
    expect(bad!.text).not.toContain(password);

    api.reset();
    api.always('sendMessage', { status: 403 });
    const unheard = await botctl(t, ['backup', 'verify', '--latest']);
    expect(unheard.exitCode).toBe(15);
    expect(unheard.stderr).toMatch(/Verifikasi backup: done, but no owner could be told/);
    api.always('sendMessage', undefined);

    api.reset();
    expect((await botctl(t, ['--no-alert', 'backup', 'verify', '--latest'])).exitCode).toBe(0);
    expect(ownerMessages()).toEqual([]);
  });

  it('without OWNER_BOT_TOKEN, alerts fall back to the shop bot with a warning', async () => {
    t.setEnv({ OWNER_BOT_TOKEN: undefined });
    try {
      const run = await botctl(t, ['alert', 'test']);
      expect(run.exitCode).toBe(0);
      expect(run.stderr).toContain('OWNER_BOT_TOKEN is not set: owner alerts go through the shop bot');
      expect(api.callsTo('sendMessage', SHOP_TOKEN)).toHaveLength(2);
    } finally {
      t.setEnv({ OWNER_BOT_TOKEN: OWNER_TOKEN });
    }
  });
});

describe('database down (the cluster is stopped)', () => {
  it('is critical at once, alerted once, and recovers with how long it was down', async () => {
    const t = await healthyTenant();
    api.reset();
    await suite.cluster.stopServer();
    try {
      const down = await health(t);
      expect(down.run.exitCode).toBe(2);
      expect(check(down.report, 'database')).toMatchObject({ status: 'critical', fact: 'down: connection refused' });
      expect(ownerMessages()[0]!.text).toContain('🔴 Database: DOWN: connection refused');
      api.reset();
      await health(t);
      expect(ownerMessages()).toEqual([]);
    } finally {
      await suite.cluster.startServer();
    }
    const up = await health(t);
    expect(up.run.exitCode).toBe(0);
    expect(ownerMessages()[0]!.text).toMatch(/✅ Pulih\n🟢 Database normal kembali setelah \d+ detik bermasalah: menjawab dalam \d+ ms/);
  });
});
