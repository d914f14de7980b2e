import fs from 'node:fs';
import path from 'node:path';
import { createSql, type Sql } from '@botctl/core';
import {
  type BotProcess,
  createTenant,
  type EphemeralCluster,
  FAKE_OWNER_TOKEN,
  FAKE_SHOP_TOKEN,
  type FakeBotApi,
  makeTempDir,
  removeDir,
  runBotctl,
  startBotProcess,
  startEphemeralCluster,
  startFakeBotApi,
  maintenanceLog,
  fakeTelegramEnv,
} from '@botctl/test-utils';

const OWNER = 9100;
let cluster: EphemeralCluster;
let work: string;
let api: FakeBotApi;
const bots: BotProcess[] = [];

beforeAll(async () => {
  work = makeTempDir('botctl-recover-');
  cluster = await startEphemeralCluster({ parentDir: work });
  api = await startFakeBotApi({ tokens: [FAKE_SHOP_TOKEN, FAKE_OWNER_TOKEN] });
});

afterAll(async () => {
  await Promise.all(bots.map((b) => b.stop('SIGTERM')));
  await api?.close();
  await cluster?.destroy();
  removeDir(work);
});

const tenant = () =>
  createTenant({
    cluster,
    parentDir: work,
    extraEnv: {
      ...fakeTelegramEnv(api, String(OWNER)),
      BOT_HTTP_PORT: '0',
      ENABLE_AUTO_HEALTHCHECK: 'false',
      HEALTH_SKIP_CHECKS: 'cpu,memory,disk',
    },
  });

async function counts(sql: Sql): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ['products', 'product_stock_items', 'users', 'orders', 'payments', 'deposits', 'product_term_submissions']) {
    const [r] = await sql.unsafe<{ n: string }[]>(`SELECT count(*) AS n FROM ${t}`);
    out[t] = Number(r!.n);
  }
  return out;
}

describe('botctl recover', () => {
  it('brings a broken tenant (dropped tables, deleted .env) back to healthy, step by step, and tells the owner', async () => {
    const t = await tenant();
    const sql = createSql(t.databaseUrl, { max: 2 });
    try {
      const before = await counts(sql);
      const envText = fs.readFileSync(t.envFile, 'utf8');
      expect((await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'create', '--offsite'], { cwd: t.dir })).exitCode).toBe(0);
      bots.push(await startBotProcess({ envFile: t.envFile, cwd: t.dir }));

      // The disaster: tables dropped, the .env deleted, a log file lost.
      await sql.unsafe('DROP TABLE product_term_submissions, payments, deposits, orders CASCADE');
      fs.rmSync(t.envFile);
      fs.rmSync(path.join(t.logDir, 'bot-order', '2026-11-20.log'));
      // Only what is needed to find and decrypt the backup comes from the environment.
      const env = { BACKUP_AGE_IDENTITY_FILE: t.identityFile };

      // Without --yes: the plan, nothing done.
      const plan = await runBotctl(['--env-file', t.envFile, 'recover', '--latest'], { cwd: t.dir, env });
      expect(plan.exitCode).toBe(14);
      expect(plan.stdout).toMatch(/1\. restore the config files \(\.env\) from the backup/);
      expect(fs.existsSync(t.envFile)).toBe(false);

      api.reset();
      const started = Date.now();
      const run = await runBotctl(['--env-file', t.envFile, 'recover', '--latest', '--yes', '--json', '--wait-bot', '30'], { cwd: t.dir, env });
      expect(run.stderr).toMatch(/is missing: using the environment/);
      expect(run.exitCode).toBe(0);
      const report = JSON.parse(run.stdout);
      expect(report.ok).toBe(true);
      expect(report.steps.map((s: { id: string; status: string }) => `${s.id}:${s.status}`)).toEqual([
        'config:ok',
        'safety_backup:ok',
        'database:ok',
        'logs:ok',
        'telegram:ok',
        'health:ok',
        'owner:ok',
      ]);
      expect(report.restored).toMatchObject({ config_files: ['.env'], log_files_restored: 1 });
      expect(report.safety_backup).toMatch(/^backup-\d{8}-\d{6}-pre-restore\.tar\.gz\.enc$/);
      expect(fs.existsSync(path.join(t.localDir, report.safety_backup))).toBe(true);

      // Healthy again: the same data, the same settings, the lost log back.
      expect(await counts(sql)).toEqual(before);
      expect(fs.readFileSync(t.envFile, 'utf8')).toBe(envText);
      expect(fs.existsSync(path.join(t.logDir, 'bot-order', '2026-11-20.log'))).toBe(true);
      const health = await runBotctl(['--env-file', t.envFile, '--no-alert', 'healthcheck', '--json'], { cwd: t.dir });
      expect(JSON.parse(health.stdout).checks.filter((c: { status: string }) => c.status === 'critical')).toEqual([]);

      // The owner heard, with what was restored and how long it took.
      const notice = api.calls.find((c) => c.token === FAKE_OWNER_TOKEN && Number(c.params.chat_id) === OWNER && /sudah pulih/.test(String(c.params.text)));
      expect(notice).toBeDefined();
      const text = String(notice!.params.text);
      expect(text).toMatch(/Dipulihkan dari: backup-\d{8}-\d{6}\.tar\.gz\.enc/);
      expect(text).toMatch(/Konfigurasi: \.env/);
      expect(text).toMatch(/Durasi pemulihan: \d/);
      expect(Date.now() - started).toBeLessThan(60_000);

      // Every step and its evidence is in logs/maintenance/.
      const log = maintenanceLog(t);
      for (const label of ['Konfigurasi sudah dipulihkan', 'Database sudah direstore', 'Log sudah tersedia', 'Bot sudah running & terhubung ke Telegram', 'Health-check sudah normal', 'Owner sudah menerima notifikasi recovery']) {
        expect(log).toContain(`[INFO] [recover] ✓ ${label}: `);
      }
      expect(log).toMatch(/\[recover\] Pemulihan selesai dalam /);
      expect(log).not.toContain(FAKE_SHOP_TOKEN);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('stops at the failing step with what to do next, logs it, and alerts the owner', async () => {
    const t = await tenant();
    expect((await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'create'], { cwd: t.dir })).exitCode).toBe(0);
    api.reset();
    // No bot process is running: the Telegram step cannot be ticked.
    const run = await runBotctl(['--env-file', t.envFile, 'recover', '--latest', '--yes', '--wait-bot', '1'], { cwd: t.dir });
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^✓ Database sudah direstore: /m);
    expect(run.stderr).toMatch(/^✗ Bot sudah running & terhubung ke Telegram: @\w+ answers getMe, but the bot process is not running/m);
    expect(run.stderr).toMatch(/^hint: start the bot/m);
    expect(maintenanceLog(t)).toMatch(/\[ERROR\] \[recover\] ✗ Bot sudah running & terhubung ke Telegram: .*Langkah berikut: start the bot/);
    await api.waitForCall((c) => c.token === FAKE_OWNER_TOKEN && /Pemulihan \(recover\) GAGAL/.test(String(c.params.text)));
  });
});
