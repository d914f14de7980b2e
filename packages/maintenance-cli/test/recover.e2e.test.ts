import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createSql, readHeartbeat, type Sql } from '@botctl/core';
import {
  type BotProcess,
  FAKE_OWNER_TOKEN,
  FAKE_SHOP_TOKEN,
  type FakeBotApi,
  runBotctl,
  startBotProcess,
  startFakeBotApi,
  maintenanceLog,
  fakeTelegramEnv,
  type SupervisedBot,
  superviseBot,
} from '@botctl/test-utils';
import { useCluster } from './harness.js';

const OWNER = 9100;
let api: FakeBotApi;
const bots: BotProcess[] = [];

beforeAll(async () => {
  api = await startFakeBotApi({ tokens: [FAKE_SHOP_TOKEN, FAKE_OWNER_TOKEN] });
});

// Before useCluster's own afterAll (jest runs them in the order they are declared): the bots stop
// before their cluster and folders go (a bot stopped after wrote its last heartbeat into a
// tenant folder already removed, and left it in /tmp).
afterAll(async () => {
  await Promise.all(bots.map((b) => b.stop('SIGTERM')));
  await api?.close();
});

const suite = useCluster('botctl-recover-');

const tenant = () =>
  suite.tenant({
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
      for (const label of [
        'Konfigurasi sudah dipulihkan',
        'Database sudah direstore',
        'Log sudah tersedia',
        'Bot sudah running & terhubung ke Telegram',
        'Health-check sudah normal',
        'Owner sudah menerima notifikasi recovery',
      ]) {
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
    expect(run.stderr).toMatch(/^botctl: error: recovery stopped at step "telegram" \(Bot sudah running & terhubung ke Telegram\): /m);
    expect(run.stderr).toMatch(/^hint: start the bot.*; then run `botctl --env-file \S+ recover --latest --yes`/m);
    expect(maintenanceLog(t)).toMatch(/\[ERROR\] \[recover\] ✗ Bot sudah running & terhubung ke Telegram: .*Langkah berikut: start the bot/);
    await api.waitForCall((c) => c.token === FAKE_OWNER_TOKEN && /Pemulihan \(recover\) GAGAL/.test(String(c.params.text)));
  });

  it('under a supervisor that restarts the bot all along: the bot waits behind the fence, recover succeeds, the shop comes back whole', async () => {
    // Enough data that the restore takes a few seconds: the supervisor restarts the bot during it.
    const t = await suite.tenant({
      scale: 120,
      extraEnv: { ...fakeTelegramEnv(api, String(OWNER)), BOT_HTTP_PORT: '0', ENABLE_AUTO_HEALTHCHECK: 'false', HEALTH_SKIP_CHECKS: 'cpu,memory,disk' },
    });
    const sql = createSql(t.databaseUrl, { max: 2 });
    let bot: SupervisedBot | undefined;
    try {
      const before = await counts(sql);
      expect((await runBotctl(['--env-file', t.envFile, '--no-alert', 'backup', 'create', '--offsite'], { cwd: t.dir })).exitCode).toBe(0);
      const asUser = process.getuid?.() === 0 ? 'nobody' : undefined;
      if (asUser) {
        // The bot runs as another user than botctl: it reads the fence botctl writes.
        // The tenant folder belongs to the bot's user, as on a server; botctl runs as root.
        execFileSync('chown', ['-R', `${asUser}:`, t.dir]);
      }
      bot = superviseBot({ envFile: t.envFile, cwd: t.dir, restartMs: 100, ...(asUser ? { user: asUser } : {}) });
      await waitFor(() => bot!.lines.some((l) => /Bot @\S+ started/.test(l)), 30_000);

      // The disaster: the database and the .env are gone; the bot dies and is restarted again and again.
      const admin = createSql(suite.cluster.url(), { max: 1 });
      await admin.unsafe(`DROP DATABASE "${t.dbName}" WITH (FORCE)`);
      await admin.end({ timeout: 5 });
      fs.rmSync(t.envFile);
      bot.crash();
      api.reset();
      const run = await runBotctl(['--env-file', t.envFile, 'recover', '--latest', '--yes', '--json', '--wait-bot', '60'], {
        cwd: t.dir,
        env: { BACKUP_AGE_IDENTITY_FILE: t.identityFile },
      });
      expect(run.stderr).not.toMatch(/unexpected error/);
      expect(run.stderr).not.toMatch(/error/);
      expect(run.exitCode).toBe(0);
      expect(await counts(sql)).toEqual(before);
      // The bot honoured the fence: it said so, and never migrated the database under restore.
      const lines = bot.lines.join('\n');
      expect(lines).toMatch(/\[maintenance\] database "[^"]+" is being restored by botctl recover .*not migrating or serving until it is done/);
      // Restarted after the crash; behind the fence it waits (for its .env, then for the database)
      // instead of exiting again and again.
      expect(bot.starts()).toBeGreaterThanOrEqual(2);
      // The owners heard it once, however often the bot was restarted.
      await api.waitForCall((c) => c.token === FAKE_OWNER_TOKEN && String(c.params.text).includes('▶️'), 20_000);
      const owner = api.calls.filter((c) => c.token === FAKE_OWNER_TOKEN).map((c) => String(c.params.text));
      expect(owner.filter((x) => x.includes('🔧'))).toHaveLength(1);
      expect(owner.filter((x) => x.includes('▶️'))).toHaveLength(1);
      // And it serves again.
      await waitFor(() => {
        const hb = readHeartbeat(path.join(t.dir, 'state'), 'bot');
        return Boolean(hb && !hb.paused && Date.now() - Date.parse(hb.at) < 10_000);
      }, 30_000);
    } finally {
      await bot?.stop();
      await sql.end({ timeout: 5 });
    }
  });
});

async function waitFor(pred: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}
